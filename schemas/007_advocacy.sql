-- Course of conduct: key dates, phrase matches, annotations, and the analysis views (flags, incidents)
-- an advocate reads. The views are computed when read, so they always follow the latest load, key dates
-- and actor decisions.

CREATE TABLE IF NOT EXISTS case_settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
COMMENT ON TABLE case_settings IS 'Settings of the case the analysis uses: tz (the time zone of the latest run, for night contact and key dates given without an offset), incident_gap_minutes, phrase_lists_sha256.';
COMMENT ON COLUMN case_settings.key IS 'Name of the setting.';
COMMENT ON COLUMN case_settings.value IS 'Its value, as text.';

CREATE TABLE IF NOT EXISTS case_events (
    event_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    at_utc TIMESTAMPTZ NOT NULL,
    at_local VARCHAR NOT NULL,
    tz VARCHAR NOT NULL,
    precision VARCHAR NOT NULL,
    note VARCHAR,
    source VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    message_id VARCHAR,
    recorded_at TIMESTAMPTZ NOT NULL,
    examiner VARCHAR NOT NULL,
    status_reason VARCHAR
);
COMMENT ON TABLE case_events IS 'Key dates of the case: stop requests, orders, police reports, others; added by an analyst or detected in the account owner''s own messages. Removed ones stay, marked removed, so a detection is never brought back.';
COMMENT ON COLUMN case_events.event_id IS 'Stable id: k- and a hash of what was added, or of the message a detected stop request was read from.';
COMMENT ON COLUMN case_events.kind IS 'stop_request, order, police_report or other.';
COMMENT ON COLUMN case_events.at_utc IS 'When it happened, in UTC (a date alone is its start, 00:00 in the case''s time zone).';
COMMENT ON COLUMN case_events.at_local IS 'The time as given (evidence events add --at) or as the message was sent.';
COMMENT ON COLUMN case_events.tz IS 'Time zone at_local was read in.';
COMMENT ON COLUMN case_events.precision IS 'day or minute (or second for detected ones).';
COMMENT ON COLUMN case_events.note IS 'What it is, in the advocate''s words ("SPO served").';
COMMENT ON COLUMN case_events.source IS 'analyst (evidence events add) or detected (a victim''s message asking for no contact).';
COMMENT ON COLUMN case_events.status IS 'kept or removed (evidence events remove); only kept events count for the flags.';
COMMENT ON COLUMN case_events.message_id IS 'For detected events: the message asking for no contact.';
COMMENT ON COLUMN case_events.recorded_at IS 'When the event was added or detected (UTC).';
COMMENT ON COLUMN case_events.examiner IS 'Who added, detected (the run''s examiner) or last changed it.';
COMMENT ON COLUMN case_events.status_reason IS 'Why it was removed, when it was.';

CREATE TABLE IF NOT EXISTS phrase_matches (
    message_id VARCHAR NOT NULL,
    list VARCHAR NOT NULL,
    phrase VARCHAR NOT NULL,
    PRIMARY KEY (message_id, list, phrase)
);
COMMENT ON TABLE phrase_matches IS 'Messages whose body matches a phrase of an editable list (src/evidence/phrases/ or CASE_DIR/phrases/): threats (flagged threat_for_review) and stop requests.';
COMMENT ON COLUMN phrase_matches.message_id IS 'Message (messages.message_id).';
COMMENT ON COLUMN phrase_matches.list IS 'threats or stop_requests.';
COMMENT ON COLUMN phrase_matches.phrase IS 'The phrase of the list that matched, as written in the list.';

CREATE TABLE IF NOT EXISTS annotations (
    annotation_id VARCHAR PRIMARY KEY,
    target_id VARCHAR NOT NULL,
    target_kind VARCHAR NOT NULL,
    impact VARCHAR,
    police_ref VARCHAR,
    witness VARCHAR,
    location VARCHAR,
    note VARCHAR,
    examiner VARCHAR NOT NULL,
    annotated_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE annotations IS 'What an advocate adds to an event or an incident for a stalking diary: impact on the victim, police reference, witnesses, where, notes. Append-only; each is also in the custody log.';
COMMENT ON COLUMN annotations.annotation_id IS 'Stable id (n- and a hash of the annotation and when it was made).';
COMMENT ON COLUMN annotations.target_id IS 'Event (timeline.event_id) or incident (incidents.incident_id) annotated.';
COMMENT ON COLUMN annotations.target_kind IS 'event or incident.';
COMMENT ON COLUMN annotations.impact IS 'How it made the victim feel, what it changed for them, in their or the advocate''s words.';
COMMENT ON COLUMN annotations.police_ref IS 'Police reference (crime or incident number).';
COMMENT ON COLUMN annotations.witness IS 'Witnesses.';
COMMENT ON COLUMN annotations.location IS 'Where it happened, when it matters (a message received at work).';
COMMENT ON COLUMN annotations.note IS 'Anything else.';
COMMENT ON COLUMN annotations.examiner IS 'Who wrote it.';
COMMENT ON COLUMN annotations.annotated_at IS 'When (UTC).';

-- Who each canonical message is attributed to for the analysis: the confirmed actor of its sender, else
-- the sender's identifier, else the sender's name (never a suggestion). `counts` says whether it is contact
-- from someone else, the one definition that flags, incidents, the report and the incident log read: not
-- the owner's own, not a system line, and not a screenshot's bubble of an exported message (that message
-- counts, once).
CREATE OR REPLACE VIEW message_actor AS
WITH confirmed AS (
    SELECT i.value AS sender_identifier, min(a.actor_id) AS actor_id, min(a.label) AS label,
           bool_or(a.status = 'owner') AS is_owner
    FROM identifiers i
    JOIN actor_identifiers ai ON ai.identifier_id = i.identifier_id AND ai.confirmed
    JOIN actors a ON a.actor_id = ai.actor_id AND a.status IN ('confirmed', 'owner')
    GROUP BY i.value
),
shown_in_export AS (
    SELECT DISTINCT ocr_message_id FROM corroborations
),
attributed AS (
SELECT m.message_id, m.kind, sh.ocr_message_id IS NOT NULL AS shown_in_export,
       -- a message with no sender at all (a withheld number's call, a system line) still counts for someone:
       -- without a key its incident had no id and was left out of the incident log
       coalesce('actor:' || c.actor_id, 'identifier:' || m.sender_identifier, 'sender:' || m.sender,
                'unknown:' || CASE WHEN m.kind = 'system' THEN 'system'
                                   WHEN list_contains(m.flags, 'number_withheld') THEN 'withheld'
                                   ELSE 'none:' || m.platform END) AS actor_key,
       coalesce(c.label, m.sender_identifier, m.sender,
                CASE WHEN m.kind = 'system' THEN 'system message'
                     WHEN list_contains(m.flags, 'number_withheld') THEN 'withheld number'
                     ELSE 'no sender given (' || m.platform || ')' END) AS actor,
       coalesce(c.is_owner, FALSE) OR coalesce(m.direction = 'outgoing', FALSE) AS from_owner
FROM messages m
LEFT JOIN confirmed c ON c.sender_identifier = m.sender_identifier
LEFT JOIN shown_in_export sh ON sh.ocr_message_id = m.message_id
WHERE m.duplicate_of IS NULL
)
SELECT message_id, actor_key, actor, from_owner,
       NOT from_owner AND kind <> 'system' AND NOT shown_in_export AS counts
FROM attributed;
COMMENT ON VIEW message_actor IS 'The actor each canonical message counts for in flags and incidents: confirmed actor, else sender identifier, else sender name, else what stands for a missing sender (withheld number, system message, no sender given); from_owner marks the account owner''s own messages; counts marks contact from someone else (not the owner''s, not a system line, not a screenshot''s bubble of an exported message).';

CREATE OR REPLACE VIEW analysis_flags AS
WITH settings AS (
    SELECT coalesce((SELECT value FROM case_settings WHERE key = 'tz'), 'UTC') AS tz
),
dates AS (
    SELECT min(at_utc) FILTER (WHERE kind = 'stop_request') AS stop_at,
           min(at_utc) FILTER (WHERE kind = 'order') AS order_at
    FROM case_events WHERE status = 'kept'
),
from_others AS (
    -- contact from someone else (message_actor.counts)
    SELECT m.message_id, m.sent_at_utc, m.time_precision, m.sender_identifier
    FROM messages m JOIN message_actor ma USING (message_id)
    WHERE ma.counts
),
contact AS (
    -- those with a time: the flags about when a message came need one (a threat needs none)
    SELECT * FROM from_others WHERE sent_at_utc IS NOT NULL
)
SELECT c.message_id, 'night' AS flag,
       'sent at ' || strftime(timezone(s.tz, c.sent_at_utc), '%H:%M') || ' in ' || s.tz AS detail
FROM contact c, settings s
WHERE c.time_precision IN ('second', 'minute') AND hour(timezone(s.tz, c.sent_at_utc)) < 6
UNION ALL
SELECT c.message_id, 'after_stop_request', 'after the first kept stop request (' || strftime(d.stop_at, '%Y-%m-%d %H:%M UTC') || ')'
FROM contact c, dates d WHERE d.stop_at IS NOT NULL AND c.sent_at_utc > d.stop_at
UNION ALL
SELECT c.message_id, 'after_order', 'after the order of ' || strftime(d.order_at, '%Y-%m-%d %H:%M UTC')
FROM contact c, dates d WHERE d.order_at IS NOT NULL AND c.sent_at_utc > d.order_at
UNION ALL
SELECT p.message_id, 'threat_for_review', 'for review: matches "' || string_agg(p.phrase, '", "' ORDER BY p.phrase) || '"'
FROM phrase_matches p JOIN from_others c USING (message_id)
WHERE p.list = 'threats'
GROUP BY p.message_id
UNION ALL
SELECT message_id, 'first_from_identifier', 'first message from ' || sender_identifier
FROM (
    SELECT message_id, sender_identifier,
           row_number() OVER (PARTITION BY sender_identifier ORDER BY sent_at_utc, message_id) AS n
    FROM contact WHERE sender_identifier IS NOT NULL
) WHERE n = 1;
COMMENT ON VIEW analysis_flags IS 'Analysis flags on canonical messages not sent by the account owner (a screenshot''s bubble that shows an exported message is left to that message): night (00:00-05:59 in the case''s time zone), after_stop_request (after the first kept stop request), after_order (after the first kept order), threat_for_review (matches the threat phrase list, with a date or without: for review, never a finding), first_from_identifier (first message from a number, address or account). Facts, with the detail that explains each.';

CREATE OR REPLACE VIEW incidents AS
WITH gap AS (
    SELECT coalesce(try_cast((SELECT value FROM case_settings WHERE key = 'incident_gap_minutes') AS INTEGER), 30) AS minutes
),
contact AS (
    SELECT m.message_id, m.sent_at_utc, m.platform, ma.actor_key, ma.actor,
           lag(m.sent_at_utc) OVER (PARTITION BY ma.actor_key ORDER BY m.sent_at_utc, m.message_id) AS previous_at
    FROM messages m JOIN message_actor ma USING (message_id)
    WHERE m.sent_at_utc IS NOT NULL AND ma.counts
),
numbered AS (
    SELECT c.*,
           sum(CASE WHEN c.previous_at IS NULL OR c.sent_at_utc - c.previous_at > to_minutes(g.minutes) THEN 1 ELSE 0 END)
               OVER (PARTITION BY c.actor_key ORDER BY c.sent_at_utc, c.message_id) AS burst,
           CASE WHEN c.previous_at IS NULL OR c.sent_at_utc - c.previous_at > to_minutes(g.minutes)
                THEN epoch(c.sent_at_utc) - epoch(c.previous_at) END AS gap_seconds
    FROM contact c, gap g
)
SELECT 'i-' || substr(md5(actor_key || '|' || arg_min(message_id, (sent_at_utc, message_id))), 1, 12) AS incident_id,
       actor_key, any_value(actor) AS actor,
       min(sent_at_utc) AS first_at_utc, max(sent_at_utc) AS last_at_utc,
       count(*) AS messages,
       list(DISTINCT platform ORDER BY platform) AS platforms,
       list(message_id ORDER BY sent_at_utc, message_id) AS message_ids,
       max(gap_seconds) AS gap_before_seconds
FROM numbered
GROUP BY actor_key, burst;
COMMENT ON VIEW incidents IS 'Bursts of contact from one actor: messages less than incident_gap_minutes (default 30) apart form one incident; a screenshot''s bubble that shows an exported message counts as that message, once. gap_before_seconds is the time since that actor''s previous incident (NULL for the first): course of conduct is judged on frequency and proximity, so gaps matter as much as counts.';
