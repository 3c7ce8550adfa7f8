-- `fjsense deadletters replay` marks each letter it sent again: replaying twice sends nothing
-- twice, and a letter whose cause remains makes a new letter (received now), never a loop.
ALTER TABLE dead_letters ADD COLUMN replayed_at timestamptz;
