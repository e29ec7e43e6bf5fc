-- The voice URL Switchboard last pointed each number at (NULL: never pointed by Switchboard),
-- so a change of the public URL shows which numbers still point at the old one.
ALTER TABLE phone_numbers ADD COLUMN pointed_url TEXT;
