-- A call's own context (a JSON object): facts for this conversation only, such as the
-- contact's name, email and phone that fill the prompt's {name}, {email}, {phone}. NULL
-- means none. Editable while the call is live.
ALTER TABLE calls ADD COLUMN context TEXT;
