-- The timeline readers see: one row per distinct event, with its caveats and the analysis flags.
-- Defined last: it reads the tables and views of every other schema file.

CREATE OR REPLACE VIEW timeline AS
WITH seen AS (
    -- every place each original was seen (the same export copied twice counts twice)
    SELECT sha256, count(DISTINCT source_path) AS places FROM file_occurrences GROUP BY sha256
),
copies AS (
    -- a canonical message and its duplicates, counted by the places their files were seen
    SELECT coalesce(m.duplicate_of, m.message_id) AS canonical_id, sum(coalesce(seen.places, 1)) AS occurrences
    FROM messages m LEFT JOIN seen ON seen.sha256 = m.source_sha256
    GROUP BY 1
),
analysed AS (
    SELECT message_id, list(flag ORDER BY flag) AS flags FROM analysis_flags GROUP BY message_id
),
shown AS (
    -- screenshot bubbles that show an exported message (corroborations): kept as events, counted once
    SELECT DISTINCT ocr_message_id FROM corroborations
),
sender_actor AS (
    -- who sent it: confirmed actors only; open suggestions apart, with their confidence (DESIGN principle 4)
    SELECT i.value AS sender_identifier,
           arg_max(a.label, ai.confidence) FILTER (WHERE ai.confirmed AND a.status IN ('confirmed', 'owner'))
               AS actor,
           arg_max(a.label || ' (suggested, confidence ' || printf('%.2f', ai.confidence) || ')', ai.confidence)
               FILTER (WHERE NOT ai.confirmed) AS suggested_actor
    FROM identifiers i
    JOIN actor_identifiers ai ON ai.identifier_id = i.identifier_id
    JOIN actors a ON a.actor_id = ai.actor_id
    WHERE a.status <> 'rejected'
    GROUP BY i.value
)
SELECT
    m.message_id AS event_id,
    m.sent_at_utc AS occurred_at_utc,
    m.sent_at_local AS occurred_at_local,
    m.platform,
    m.kind,
    sa.actor,
    sa.suggested_actor,
    m.sender,
    m.body AS text,
    m.source_sha256,
    m.source_locator,
    coalesce(c.occurrences, 1) AS occurrences,
    -- OCR rows also show their screenshot's time conflicts (images.flags time_conflict_*)
    list_concat(
        CASE WHEN m.kind = 'ocr' THEN list_concat(m.flags, coalesce(list_filter(img.flags, lambda f: starts_with(f, 'time_conflict')), []),
                                                  CASE WHEN sh.ocr_message_id IS NOT NULL THEN ['shown_in_export'] ELSE [] END)
             ELSE m.flags END,
        coalesce(af.flags, [])
    ) AS flags,
    m.conversation,
    m.subject,
    m.direction,
    m.sender_identifier,
    m.tz_source,
    m.time_precision
FROM messages m
LEFT JOIN copies c ON c.canonical_id = m.message_id
LEFT JOIN analysed af ON af.message_id = m.message_id
LEFT JOIN sender_actor sa ON sa.sender_identifier = m.sender_identifier
LEFT JOIN images img ON m.kind = 'ocr' AND img.sha256 = m.source_sha256
LEFT JOIN shown sh ON m.kind = 'ocr' AND sh.ocr_message_id = m.message_id
WHERE m.duplicate_of IS NULL;
COMMENT ON VIEW timeline IS 'One row per distinct event (canonical messages only), in the order analysts and reports read them. actor is the confirmed actor of the sender or NULL; suggested_actor the best open suggestion with its confidence (never presented as who sent it).';
