-- Remote MCP servers whose tools an agent may use: a JSON array checked by the engine when the
-- agent is saved (labels, URLs, headers naming tool secrets by reference).
ALTER TABLE agents ADD COLUMN mcp_servers TEXT NOT NULL DEFAULT '[]';
