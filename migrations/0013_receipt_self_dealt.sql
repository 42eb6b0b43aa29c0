-- Self-dealt receipts (SPEC section 10, v3): a receipt whose client DID is an agent of the
-- provider's own owner address. Decided when the receipt is written, from the agents table, and
-- kept: such a receipt settles its money but moves no reputation dimension and cannot back a
-- usefulness proof, like a receipt finalized without a committee (committee_shortfall). Additive
-- with a constant default, so the previous release runs on this schema unchanged.
ALTER TABLE receipts ADD COLUMN self_dealt boolean NOT NULL DEFAULT false;
