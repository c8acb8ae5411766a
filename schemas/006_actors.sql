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
COMMENT ON COLUMN actor_decisions.source IS 'Where the decision came from: cli, airflow review (the evidence_review DAG''s form), or alias file <path> (sha256 <hash>).';

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
COMMENT ON TABLE actor_suggestions IS 'Evidence that two identifiers belong to one person (or that one identifier is a named person), aggregated per pair from actor_evidence with a confidence and a reason; never applied until an analyst confirms it.';
COMMENT ON COLUMN actor_suggestions.suggestion_id IS 'Stable id from the pair of identifiers (s-xxxxxxxx), the same after every rebuild; used by evidence actors confirm/reject.';
COMMENT ON COLUMN actor_suggestions.identifier_id IS 'One identifier of the pair (the smaller id).';
COMMENT ON COLUMN actor_suggestions.other_identifier_id IS 'The other identifier of the pair; equal to identifier_id when the evidence names one identifier only.';
COMMENT ON COLUMN actor_suggestions.confidence IS 'Confidence between 0 and 1: the strongest piece of evidence for the pair.';
COMMENT ON COLUMN actor_suggestions.reason IS 'Why the link is suggested, in words an advocate can read, citing the messages.';
COMMENT ON COLUMN actor_suggestions.rules IS 'Rules that produced the suggestion: same_display_name, same_number_across_platforms, own_new_identifier.';
COMMENT ON COLUMN actor_suggestions.message_ids IS 'Messages the evidence comes from (at most 20).';
COMMENT ON COLUMN actor_suggestions.label_hint IS 'Name the evidence gives the person, used as the actor label when confirmed.';
COMMENT ON COLUMN actor_suggestions.status IS 'suggested, confirmed or rejected, from the latest analyst decision about the pair.';

-- Evidence kept between runs, so each run's actor rules read only what that run loaded.

CREATE TABLE IF NOT EXISTS actor_evidence (
    evidence_id VARCHAR PRIMARY KEY,
    identifier_id VARCHAR NOT NULL,
    other_identifier_id VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    confidence DOUBLE NOT NULL,
    reason VARCHAR NOT NULL,
    message_ids VARCHAR[] NOT NULL,
    label_hint VARCHAR,
    found_in_run VARCHAR NOT NULL
);
COMMENT ON TABLE actor_evidence IS 'One piece of evidence that two identifiers belong to one person, found by a rule in the messages of a run; actor_suggestions aggregates it per pair. A link always needs evidence that names both identifiers: being the next sender is never enough.';
COMMENT ON COLUMN actor_evidence.evidence_id IS 'Stable id from the rule, the pair and what the evidence rests on (the same evidence found again replaces itself).';
COMMENT ON COLUMN actor_evidence.identifier_id IS 'One identifier of the pair (the smaller id).';
COMMENT ON COLUMN actor_evidence.other_identifier_id IS 'The other identifier (equal to identifier_id when the evidence is about one identifier).';
COMMENT ON COLUMN actor_evidence.rule IS 'same_display_name, same_number_across_platforms or own_new_identifier (a first-person announcement: "my new number is ...").';
COMMENT ON COLUMN actor_evidence.confidence IS 'Confidence between 0 and 1 this evidence gives.';
COMMENT ON COLUMN actor_evidence.reason IS 'The evidence in words an advocate can read, citing the messages.';
COMMENT ON COLUMN actor_evidence.message_ids IS 'Messages the evidence rests on.';
COMMENT ON COLUMN actor_evidence.label_hint IS 'Name the evidence gives the person (a display name from an export, never OCR text).';
COMMENT ON COLUMN actor_evidence.found_in_run IS 'Run whose messages produced or last confirmed this evidence.';

CREATE TABLE IF NOT EXISTS identifier_names (
    identifier_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    messages BIGINT NOT NULL,
    first_at TIMESTAMPTZ,
    platform VARCHAR,
    example_message_id VARCHAR,
    PRIMARY KEY (identifier_id, name)
);
COMMENT ON TABLE identifier_names IS 'Display names an identifier sent messages under in exported messages (never names read by OCR), counted run by run: the actor rules and actor labels read them.';
COMMENT ON COLUMN identifier_names.identifier_id IS 'Identifier (identifiers.identifier_id).';
COMMENT ON COLUMN identifier_names.name IS 'Display name as the export shows it (a contact name, the name part of an email address).';
COMMENT ON COLUMN identifier_names.messages IS 'Canonical messages sent under this name.';
COMMENT ON COLUMN identifier_names.first_at IS 'Earliest of those messages (UTC).';
COMMENT ON COLUMN identifier_names.platform IS 'Platform of the earliest of those messages.';
COMMENT ON COLUMN identifier_names.example_message_id IS 'The earliest of those messages.';

CREATE TABLE IF NOT EXISTS identifier_activity (
    identifier_id VARCHAR NOT NULL,
    platform VARCHAR NOT NULL,
    sent BIGINT NOT NULL,
    received BIGINT NOT NULL,
    first_sent_at TIMESTAMPTZ,
    example_message_id VARCHAR,
    PRIMARY KEY (identifier_id, platform)
);
COMMENT ON TABLE identifier_activity IS 'Per identifier and platform, how many exported messages it sent and received, counted run by run: the same number on WhatsApp and SMS is evidence about one person, and an announced new number that then writes is stronger evidence.';
COMMENT ON COLUMN identifier_activity.identifier_id IS 'Identifier (identifiers.identifier_id).';
COMMENT ON COLUMN identifier_activity.platform IS 'Platform of the messages (whatsapp, sms, email, ...).';
COMMENT ON COLUMN identifier_activity.sent IS 'Canonical messages with the identifier as sender on this platform.';
COMMENT ON COLUMN identifier_activity.received IS 'Canonical messages with the identifier as recipient on this platform.';
COMMENT ON COLUMN identifier_activity.first_sent_at IS 'Earliest message it sent on this platform (UTC).';
COMMENT ON COLUMN identifier_activity.example_message_id IS 'One message it sent or received on this platform.';
