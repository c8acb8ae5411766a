-- Core evidence schema. This folder is the only place the case database schema is defined.
-- Every table and column carries a COMMENT ON; the Parquet staging layout is derived from it.

CREATE TABLE IF NOT EXISTS schema_info (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
COMMENT ON TABLE schema_info IS 'Facts about this case database itself, such as the schema version.';
COMMENT ON COLUMN schema_info.key IS 'Name of the fact, e.g. schema_version.';
COMMENT ON COLUMN schema_info.value IS 'Value of the fact.';

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    tool_version VARCHAR NOT NULL,
    examiner VARCHAR,
    parameters JSON,
    status VARCHAR,
    summary JSON
);
COMMENT ON TABLE ingest_runs IS 'One row per ingestion run (CLI or Airflow), with who ran it and with which parameters.';
COMMENT ON COLUMN ingest_runs.run_id IS 'Identifier of the run; also used in file_occurrences, ingest_errors and the custody log.';
COMMENT ON COLUMN ingest_runs.started_at IS 'When the run started (UTC).';
COMMENT ON COLUMN ingest_runs.finished_at IS 'When the run finished loading (UTC); NULL if it never finished.';
COMMENT ON COLUMN ingest_runs.tool_version IS 'Version of the evidence pipeline that ran.';
COMMENT ON COLUMN ingest_runs.examiner IS 'Name of the examiner who started the run, as given.';
COMMENT ON COLUMN ingest_runs.parameters IS 'Run parameters as JSON: sources, timezone, phone region, owner identifiers, jobs.';
COMMENT ON COLUMN ingest_runs.status IS 'loading while its load runs, done when it was loaded and linked completely, interrupted when it stopped before that (a later run then links its rows).';
COMMENT ON COLUMN ingest_runs.summary IS 'Run summary as JSON: files seen, new, duplicate, parsed, unsupported, failed, messages loaded.';

CREATE TABLE IF NOT EXISTS files (
    sha256 VARCHAR PRIMARY KEY,
    md5 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    mime VARCHAR,
    format VARCHAR,
    status VARCHAR NOT NULL,
    first_seen_path VARCHAR NOT NULL,
    parser VARCHAR,
    parser_version VARCHAR,
    parse_key VARCHAR,
    status_reason VARCHAR,
    derived_from_sha256 VARCHAR,
    first_run_id VARCHAR
);
COMMENT ON TABLE files IS 'Every distinct original (input file, archive member or extracted attachment), stored once by content in originals/.';
COMMENT ON COLUMN files.sha256 IS 'SHA-256 of the bytes; also the file name in the originals/ store.';
COMMENT ON COLUMN files.md5 IS 'MD5 of the bytes, for tools and forms that still ask for it.';
COMMENT ON COLUMN files.size_bytes IS 'Size in bytes.';
COMMENT ON COLUMN files.mime IS 'MIME type from libmagic (content, not file name).';
COMMENT ON COLUMN files.format IS 'Source format chosen by detection (a parser name), or NULL when no parser recognised it.';
COMMENT ON COLUMN files.status IS 'parsed, unsupported (stored and listed, no parser) or failed (a parser raised; see status_reason and ingest_errors).';
COMMENT ON COLUMN files.first_seen_path IS 'Where this content was first seen (path, archive!/member or message#attachment).';
COMMENT ON COLUMN files.parser IS 'Name of the parser that read the file, if any.';
COMMENT ON COLUMN files.parser_version IS 'Version of that parser.';
COMMENT ON COLUMN files.parse_key IS 'Parser, version and the run parameters that affect parsing; a re-ingest with the same key skips parsing.';
COMMENT ON COLUMN files.status_reason IS 'Why the file is unsupported or failed, in words.';
COMMENT ON COLUMN files.derived_from_sha256 IS 'For attachments and embedded parts: the original they were extracted from.';
COMMENT ON COLUMN files.first_run_id IS 'Run in which this content was first stored.';

CREATE TABLE IF NOT EXISTS file_occurrences (
    sha256 VARCHAR NOT NULL,
    source_path VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    container_sha256 VARCHAR,
    modified_at TIMESTAMPTZ
);
COMMENT ON TABLE file_occurrences IS 'One row per time a file was seen: the same bytes at two paths or in two runs give two rows.';
COMMENT ON COLUMN file_occurrences.sha256 IS 'Content seen (files.sha256).';
COMMENT ON COLUMN file_occurrences.source_path IS 'Where it was seen: a path, archive.zip!/member, or message.eml#part for extracted parts.';
COMMENT ON COLUMN file_occurrences.run_id IS 'Run that saw it (ingest_runs.run_id).';
COMMENT ON COLUMN file_occurrences.container_sha256 IS 'The archive or message it came out of, if any.';
COMMENT ON COLUMN file_occurrences.modified_at IS 'Modification time recorded by the file system or archive entry (UTC), as found; not proof of anything.';

CREATE TABLE IF NOT EXISTS ingest_errors (
    run_id VARCHAR NOT NULL,
    source_path VARCHAR,
    sha256 VARCHAR,
    stage VARCHAR NOT NULL,
    error VARCHAR NOT NULL,
    severity VARCHAR NOT NULL DEFAULT 'error',
    locator VARCHAR
);
COMMENT ON TABLE ingest_errors IS 'Problems met while ingesting: files that could not be read, parsed or stored, and warnings about parts that were decoded with difficulty.';
COMMENT ON COLUMN ingest_errors.run_id IS 'Run in which the problem happened.';
COMMENT ON COLUMN ingest_errors.source_path IS 'Where the file was found.';
COMMENT ON COLUMN ingest_errors.sha256 IS 'Content concerned, when it could be hashed.';
COMMENT ON COLUMN ingest_errors.stage IS 'acquire, detect, parse or load.';
COMMENT ON COLUMN ingest_errors.error IS 'What went wrong, in words.';
COMMENT ON COLUMN ingest_errors.severity IS 'error (the file or part was not read) or warning (read, but something in it was malformed or guessed).';
COMMENT ON COLUMN ingest_errors.locator IS 'Where inside the file, when known (line, MIME part, JSON pointer).';

CREATE TABLE IF NOT EXISTS messages (
    message_id VARCHAR NOT NULL,
    platform VARCHAR NOT NULL,
    conversation VARCHAR,
    sender VARCHAR,
    sender_identifier VARCHAR,
    recipients VARCHAR[],
    sent_at_utc TIMESTAMPTZ,
    sent_at_local VARCHAR,
    tz_source VARCHAR NOT NULL,
    time_precision VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    body VARCHAR,
    source_sha256 VARCHAR NOT NULL,
    source_locator VARCHAR NOT NULL,
    duplicate_of VARCHAR,
    subject VARCHAR,
    external_id VARCHAR,
    direction VARCHAR,
    flags VARCHAR[],
    parser VARCHAR,
    loaded_in_run VARCHAR,
    dedup_key BIGINT,
    source_key BIGINT,
    match_text VARCHAR,
    phrase_hits VARCHAR[]
);
COMMENT ON TABLE messages IS 'Every message, email, SMS, call and OCR-read message found in the originals, one row per copy; duplicate_of links copies to the canonical row.';
COMMENT ON COLUMN messages.message_id IS 'Stable identifier derived from source_sha256 and source_locator, so re-ingesting the same file yields the same ids. Unique: the loader inserts only ids not already present (no index, which would make loading 2-3 times slower); evidence verify checks it.';
COMMENT ON COLUMN messages.platform IS 'Where the message was sent: email, whatsapp, telegram, instagram, sms, signal, ...';
COMMENT ON COLUMN messages.conversation IS 'Chat, thread or mailbox the message belongs to, as named in the export.';
COMMENT ON COLUMN messages.sender IS 'Sender as shown in the export (display name or address).';
COMMENT ON COLUMN messages.sender_identifier IS 'Normalised identifier of the sender (lower-case email, E.164 phone, handle), when the export has one.';
COMMENT ON COLUMN messages.recipients IS 'Recipients as shown in the export.';
COMMENT ON COLUMN messages.sent_at_utc IS 'When the message was sent, in UTC; NULL when the source gives no usable time.';
COMMENT ON COLUMN messages.sent_at_local IS 'The time exactly as written in the source.';
COMMENT ON COLUMN messages.tz_source IS 'Where the UTC offset came from: offset (in the data), epoch, run_parameter (--tz), exif_offset, guess or none.';
COMMENT ON COLUMN messages.time_precision IS 'How precise the time is: second, minute, day or unknown.';
COMMENT ON COLUMN messages.kind IS 'message, email, sms, mms, call, system, media or ocr.';
COMMENT ON COLUMN messages.body IS 'Text of the message (email bodies converted to plain text).';
COMMENT ON COLUMN messages.source_sha256 IS 'Original the row was read from (files.sha256).';
COMMENT ON COLUMN messages.source_locator IS 'Where inside the original: line number, JSON pointer, MIME part, XML element index or image region.';
COMMENT ON COLUMN messages.duplicate_of IS 'message_id of the canonical copy when this row is a duplicate; NULL for the canonical copy.';
COMMENT ON COLUMN messages.subject IS 'Email subject or similar title, when the source has one.';
COMMENT ON COLUMN messages.external_id IS 'Identifier given by the source (email Message-ID, chat message id).';
COMMENT ON COLUMN messages.direction IS 'incoming or outgoing relative to the account owner, when known.';
COMMENT ON COLUMN messages.loaded_in_run IS 'Run that loaded this row (ingest_runs.run_id): link steps work on the rows of their run, not on the whole case. Rows of cases older than this column are adopted by the next run.';
COMMENT ON COLUMN messages.dedup_key IS 'Content key computed at extraction: hash of platform, kind, conversation, sender and the normalised body (NFC, no direction marks, whitespace collapsed; for OCR-read rows the body with the letters tesseract confuses made one, so two readings of one bubble match). Copies in different files share it.';
COMMENT ON COLUMN messages.source_key IS 'Same-source key computed at extraction when the source gives an id: email Message-ID, or a chat message id with its platform, conversation, sender and body. NULL without an id.';
COMMENT ON COLUMN messages.match_text IS 'Body normalised for matching screenshots against exports (lower case, punctuation and spacing reduced to single spaces); computed at extraction the same way for both sides.';
COMMENT ON COLUMN messages.phrase_hits IS 'Phrase lists the body matches, computed at extraction: new_identifier (someone announcing another number, address or account).';
COMMENT ON COLUMN messages.flags IS 'Caveats a reader must see: no_date, time_guessed, dst_ambiguous, dst_gap, ambiguous_day_month, decode_errors, ...';
COMMENT ON COLUMN messages.parser IS 'Parser that produced the row.';

CREATE TABLE IF NOT EXISTS attachments (
    message_id VARCHAR NOT NULL,
    file_name VARCHAR,
    mime VARCHAR,
    sha256 VARCHAR,
    size_bytes BIGINT,
    locator VARCHAR NOT NULL,
    PRIMARY KEY (message_id, locator)
);
COMMENT ON TABLE attachments IS 'Files attached to messages; the bytes are stored as originals and the name is kept only as metadata.';
COMMENT ON COLUMN attachments.message_id IS 'Message the file was attached to.';
COMMENT ON COLUMN attachments.file_name IS 'File name as given by the sender or export (never used as a path).';
COMMENT ON COLUMN attachments.mime IS 'MIME type as declared by the source.';
COMMENT ON COLUMN attachments.sha256 IS 'Stored original of the attachment bytes; NULL when the export omitted the file.';
COMMENT ON COLUMN attachments.size_bytes IS 'Size of the attachment bytes, when present.';
COMMENT ON COLUMN attachments.locator IS 'Where inside the message (MIME part path, media marker line).';

CREATE TABLE IF NOT EXISTS images (
    sha256 VARCHAR PRIMARY KEY,
    taken_at_utc TIMESTAMPTZ,
    taken_at_local VARCHAR,
    camera_make VARCHAR,
    camera_model VARCHAR,
    software VARCHAR,
    gps_lat DOUBLE,
    gps_lon DOUBLE,
    width INTEGER,
    height INTEGER,
    phash VARCHAR,
    ocr_text VARCHAR,
    taken_at_source VARCHAR,
    ocr_confidence DOUBLE,
    ocr_lang VARCHAR,
    flags VARCHAR[],
    loaded_in_run VARCHAR
);
COMMENT ON TABLE images IS 'Images (screenshots, photos) with their metadata, perceptual hash and OCR text.';
COMMENT ON COLUMN images.sha256 IS 'Stored original of the image.';
COMMENT ON COLUMN images.taken_at_utc IS 'Capture time in UTC, from EXIF or the file name.';
COMMENT ON COLUMN images.taken_at_local IS 'Capture time as written in the image metadata or file name.';
COMMENT ON COLUMN images.camera_make IS 'EXIF camera or phone make.';
COMMENT ON COLUMN images.camera_model IS 'EXIF camera or phone model.';
COMMENT ON COLUMN images.software IS 'EXIF software (editing or screenshot tool).';
COMMENT ON COLUMN images.gps_lat IS 'EXIF GPS latitude in decimal degrees.';
COMMENT ON COLUMN images.gps_lon IS 'EXIF GPS longitude in decimal degrees.';
COMMENT ON COLUMN images.width IS 'Width in pixels.';
COMMENT ON COLUMN images.height IS 'Height in pixels.';
COMMENT ON COLUMN images.phash IS 'Perceptual hash (hex) used to group near-identical screenshots.';
COMMENT ON COLUMN images.ocr_text IS 'Text read by OCR; machine-read, may contain errors.';
COMMENT ON COLUMN images.taken_at_source IS 'Where taken_at came from: exif, xmp or file_name (image_times lists every source).';
COMMENT ON COLUMN images.ocr_confidence IS 'Mean tesseract word confidence over the whole image, 0 to 100; NULL when OCR found no text.';
COMMENT ON COLUMN images.ocr_lang IS 'Tesseract language(s) used for OCR.';
COMMENT ON COLUMN images.flags IS 'Caveats: time_conflict_exif_vs_file_name (and other pairs), truncated, exif_unreadable, chat_screenshot, ...';
COMMENT ON COLUMN images.loaded_in_run IS 'Run that loaded this image row (ingest_runs.run_id); link steps group and compare the images of their run.';

CREATE TABLE IF NOT EXISTS identifiers (
    identifier_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    raw VARCHAR,
    is_valid BOOLEAN,
    flags VARCHAR[]
);
COMMENT ON TABLE identifiers IS 'Distinct normalised identifiers of people and devices: email addresses, phone numbers, handles, URLs, IPs, devices.';
COMMENT ON COLUMN identifiers.identifier_id IS 'Stable identifier derived from kind and value.';
COMMENT ON COLUMN identifiers.kind IS 'email, phone, handle, url, ip or device.';
COMMENT ON COLUMN identifiers.value IS 'Normalised value: lower-case email, E.164 phone when possible, lower-case handle.';
COMMENT ON COLUMN identifiers.raw IS 'The first raw form in which the identifier was seen.';
COMMENT ON COLUMN identifiers.is_valid IS 'For phones: whether phonenumbers considers the number valid (possible numbers are normalised even when not valid).';
COMMENT ON COLUMN identifiers.flags IS 'Caveats such as private_ip or not_a_number.';

CREATE TABLE IF NOT EXISTS message_identifiers (
    message_id VARCHAR NOT NULL,
    identifier_id VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    loaded_in_run VARCHAR
);
COMMENT ON TABLE message_identifiers IS 'Which identifiers appear in which message, and in what role. One row per (message_id, identifier_id, role): the loader inserts only links not already present (no index: it made loading a large export markedly slower, and DuckDB keeps it whole in memory, about 80 MB per 800,000 links; cases created earlier keep theirs); evidence verify checks it.';
COMMENT ON COLUMN message_identifiers.message_id IS 'Message (messages.message_id).';
COMMENT ON COLUMN message_identifiers.identifier_id IS 'Identifier (identifiers.identifier_id).';
COMMENT ON COLUMN message_identifiers.role IS 'sender, recipient, mentioned, relay (an IP address in the delivery path) or party (the other side of a message whose direction is unknown: neither sender nor recipient is named).';
COMMENT ON COLUMN message_identifiers.loaded_in_run IS 'Run that loaded this link (ingest_runs.run_id); actor rules read the links of their run.';

CREATE TABLE IF NOT EXISTS actors (
    actor_id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL,
    status VARCHAR NOT NULL
);
COMMENT ON TABLE actors IS 'People behind identifiers; built only from evidence and analyst decisions, never merged silently.';
COMMENT ON COLUMN actors.actor_id IS 'Stable actor identifier.';
COMMENT ON COLUMN actors.label IS 'Name shown in timelines and reports.';
COMMENT ON COLUMN actors.status IS 'suggested, confirmed or owner (the account owner, i.e. the victim).';

CREATE TABLE IF NOT EXISTS actor_identifiers (
    actor_id VARCHAR NOT NULL,
    identifier_id VARCHAR NOT NULL,
    confidence DOUBLE NOT NULL,
    reason VARCHAR NOT NULL,
    confirmed BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (actor_id, identifier_id)
);
COMMENT ON TABLE actor_identifiers IS 'Links from actors to identifiers, each with a confidence and a human-readable reason; a suggestion until confirmed.';
COMMENT ON COLUMN actor_identifiers.actor_id IS 'Actor (actors.actor_id).';
COMMENT ON COLUMN actor_identifiers.identifier_id IS 'Identifier (identifiers.identifier_id).';
COMMENT ON COLUMN actor_identifiers.confidence IS 'Confidence of the link between 0 and 1.';
COMMENT ON COLUMN actor_identifiers.reason IS 'Why the link is suggested, in words an advocate can read.';
COMMENT ON COLUMN actor_identifiers.confirmed IS 'TRUE once an analyst confirmed the link.';


CREATE TABLE IF NOT EXISTS run_files (
    run_id VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    md5 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    source_path VARCHAR NOT NULL,
    name VARCHAR,
    mime VARCHAR,
    format VARCHAR,
    status VARCHAR NOT NULL,
    status_reason VARCHAR,
    parser VARCHAR,
    parser_version VARCHAR,
    parse_key VARCHAR,
    derived_from_sha256 VARCHAR,
    container_sha256 VARCHAR,
    modified_at TIMESTAMPTZ,
    is_new BOOLEAN,
    messages INTEGER,
    warnings INTEGER,
    source_path_hex VARCHAR
);
COMMENT ON TABLE run_files IS 'What each run did with each file it saw: the per-run account behind files and file_occurrences.';
COMMENT ON COLUMN run_files.run_id IS 'Run (ingest_runs.run_id).';
COMMENT ON COLUMN run_files.sha256 IS 'Content (files.sha256).';
COMMENT ON COLUMN run_files.md5 IS 'MD5 of the content.';
COMMENT ON COLUMN run_files.size_bytes IS 'Size in bytes.';
COMMENT ON COLUMN run_files.source_path IS 'Where the file was seen in this run.';
COMMENT ON COLUMN run_files.name IS 'File name as found (metadata only, never used as a path).';
COMMENT ON COLUMN run_files.mime IS 'MIME type from libmagic.';
COMMENT ON COLUMN run_files.format IS 'Parser chosen by detection, NULL when none recognised the content.';
COMMENT ON COLUMN run_files.status IS 'parsed, unsupported, failed, or skipped (already parsed with the same parser and parameters).';
COMMENT ON COLUMN run_files.status_reason IS 'Why the file was unsupported, failed or skipped.';
COMMENT ON COLUMN run_files.parser IS 'Parser that read the file.';
COMMENT ON COLUMN run_files.parser_version IS 'Version of that parser.';
COMMENT ON COLUMN run_files.parse_key IS 'Parser, version and parsing parameters.';
COMMENT ON COLUMN run_files.derived_from_sha256 IS 'Original this content was extracted from (attachments, embedded parts).';
COMMENT ON COLUMN run_files.container_sha256 IS 'Archive this content came out of.';
COMMENT ON COLUMN run_files.modified_at IS 'File system or archive entry modification time (UTC), as found.';
COMMENT ON COLUMN run_files.is_new IS 'TRUE when this run stored the content for the first time.';
COMMENT ON COLUMN run_files.messages IS 'Messages read from the file in this run.';
COMMENT ON COLUMN run_files.warnings IS 'Warnings recorded while reading the file in this run.';
COMMENT ON COLUMN run_files.source_path_hex IS 'Exact bytes of the path in hex when it was not valid UTF-8 (source_path then shows each such byte as \xNN); NULL when source_path is the path exactly.';
