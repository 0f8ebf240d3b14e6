-- Back to 0036: an entry is linked once by a unique index again. Adding
-- the constraint builds it under chain_links' ACCESS EXCLUSIVE lock (a
-- sealing pass, the chain's head and a verification wait), and fails if a
-- link covers an entry twice (Verify names that link: out_of_order).
ALTER TABLE chain_links ADD CONSTRAINT chain_links_entry_id_key UNIQUE (entry_id);
COMMENT ON INDEX chain_links_entry_id_key IS
    'unique: an entry is linked once; Verify''s search for an entry no link covers';
