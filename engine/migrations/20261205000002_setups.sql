-- "New agent with a number" in progress: what each step has done so far, written before and
-- after every step, so a crash leaves a record the next start finishes or undoes.
CREATE TABLE setups (
    id          TEXT PRIMARY KEY,
    progress    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
