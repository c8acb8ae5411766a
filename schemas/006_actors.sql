-- Actors: analyst decisions (kept for good) and the suggestions derived from evidence (rebuilt by the
-- link step after every load). actors and actor_identifiers (001_core.sql) are materialised from both.

CREATE TABLE IF NOT EXISTS actor_decisions (
    decision_seq BIGINT PRIMARY KEY,
    decided_at TIMESTAMPTZ NOT NULL,
    examiner VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    actor_label VARCHAR,
    identifier_id VARCHAR NOT NULL,
    identifier VARCHAR NOT NULL,
    other_identifier_id VARCHAR,
    other_identifier VARCHAR,
    suggestion_id VARCHAR,
    reason VARCHAR,
    source VARCHAR NOT NULL
);
COMMENT ON TABLE actor_decisions IS 'Append-only record of analyst decisions about actors (confirm, reject, link, unlink); re-applied after every load so they survive re-ingest. Each is also in the custody log.';
COMMENT ON COLUMN actor_decisions.decision_seq IS 'Order of the decision; for the same pair or the same actor and identifier the latest decision wins.';
COMMENT ON COLUMN actor_decisions.decided_at IS 'When the decision was recorded (UTC).';
COMMENT ON COLUMN actor_decisions.examiner IS 'Who decided, as recorded in the custody log.';
COMMENT ON COLUMN actor_decisions.action IS 'confirm (a suggested link is right), reject (it is wrong), link (this identifier belongs to the actor), unlink (it does not).';
COMMENT ON COLUMN actor_decisions.actor_label IS 'Actor name the decision is about (link, unlink) or names (confirm).';
COMMENT ON COLUMN actor_decisions.identifier_id IS 'Identifier decided about (identifiers.identifier_id).';
COMMENT ON COLUMN actor_decisions.identifier IS 'The same identifier as kind:value, readable without a join.';
COMMENT ON COLUMN actor_decisions.other_identifier_id IS 'For confirm and reject: the other identifier of the suggested pair (the same one for a single-identifier suggestion).';
COMMENT ON COLUMN actor_decisions.other_identifier IS 'The other identifier as kind:value.';
COMMENT ON COLUMN actor_decisions.suggestion_id IS 'Suggestion confirmed or rejected (actor_suggestions.suggestion_id), when the decision came from one.';
COMMENT ON COLUMN actor_decisions.reason IS 'Why, in the examiner''s words.';
COMMENT ON COLUMN actor_decisions.source IS 'Where the decision came from: cli, or alias file <path> (sha256 <hash>).';

CREATE TABLE IF NOT EXISTS actor_suggestions (
    suggestion_id VARCHAR PRIMARY KEY,
    identifier_id VARCHAR NOT NULL,
    other_identifier_id VARCHAR NOT NULL,
    confidence DOUBLE NOT NULL,
    reason VARCHAR NOT NULL,
    rules VARCHAR[] NOT NULL,
    message_ids VARCHAR[] NOT NULL,
    label_hint VARCHAR,
    status VARCHAR NOT NULL
);
COMMENT ON TABLE actor_suggestions IS 'Evidence that two identifiers belong to one person (or that one identifier is a named person), with a confidence and a reason; rebuilt after every load, never applied until confirmed.';
COMMENT ON COLUMN actor_suggestions.suggestion_id IS 'Stable id from the pair of identifiers (s-xxxxxxxx), the same after every rebuild; used by evidence actors confirm/reject.';
COMMENT ON COLUMN actor_suggestions.identifier_id IS 'One identifier of the pair (the smaller id).';
COMMENT ON COLUMN actor_suggestions.other_identifier_id IS 'The other identifier of the pair; equal to identifier_id when the evidence names one identifier only.';
COMMENT ON COLUMN actor_suggestions.confidence IS 'Confidence between 0 and 1: the strongest piece of evidence for the pair.';
COMMENT ON COLUMN actor_suggestions.reason IS 'Why the link is suggested, in words an advocate can read, citing the messages.';
COMMENT ON COLUMN actor_suggestions.rules IS 'Rules that produced the suggestion: same_display_name, same_number_across_platforms, new_identifier_message.';
COMMENT ON COLUMN actor_suggestions.message_ids IS 'Messages the evidence comes from (at most 20).';
COMMENT ON COLUMN actor_suggestions.label_hint IS 'Name the evidence gives the person, used as the actor label when confirmed.';
COMMENT ON COLUMN actor_suggestions.status IS 'suggested, confirmed or rejected, from the latest analyst decision about the pair.';
