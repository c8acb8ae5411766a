-- Screenshots and images: where each image's times came from, OCR lines with their boxes and confidences,
-- the screen regions behind OCR-read chat messages, near-duplicate groups and screenshot corroborations.
-- OCR is machine reading: every row here keeps its confidence so nothing is presented as more certain than it is.

CREATE TABLE IF NOT EXISTS image_times (
    sha256 VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    time_utc TIMESTAMPTZ,
    time_local VARCHAR,
    tz_source VARCHAR,
    time_precision VARCHAR,
    PRIMARY KEY (sha256, source)
);
COMMENT ON TABLE image_times IS 'Every time found for an image, one row per place it came from, so disagreements can be checked by hand.';
COMMENT ON COLUMN image_times.sha256 IS 'Image (images.sha256).';
COMMENT ON COLUMN image_times.source IS 'exif (DateTimeOriginal or similar), xmp, file_name (Screenshot_20240101-101010.png ...), container (zip entry time) or file_system (modification time of a loose file).';
COMMENT ON COLUMN image_times.time_utc IS 'The time in UTC.';
COMMENT ON COLUMN image_times.time_local IS 'The time exactly as written in the metadata, file name or archive.';
COMMENT ON COLUMN image_times.tz_source IS 'Where the offset came from: exif_offset, run_parameter (--tz), offset, guess.';
COMMENT ON COLUMN image_times.time_precision IS 'second, minute or day (a WhatsApp IMG-20240101-WA0001 name only gives the day).';

CREATE TABLE IF NOT EXISTS ocr_lines (
    sha256 VARCHAR NOT NULL,
    line_no INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    confidence DOUBLE,
    x INTEGER,
    y INTEGER,
    w INTEGER,
    h INTEGER,
    lang VARCHAR,
    words STRUCT(text VARCHAR, confidence DOUBLE, x INTEGER, y INTEGER, w INTEGER, h INTEGER)[],
    PRIMARY KEY (sha256, line_no)
);
COMMENT ON TABLE ocr_lines IS 'Lines of text read by OCR (tesseract) from an image, with their boxes and word confidences; machine-read, may contain errors.';
COMMENT ON COLUMN ocr_lines.sha256 IS 'Image the line was read from (images.sha256).';
COMMENT ON COLUMN ocr_lines.line_no IS 'Line number in reading order (top to bottom), from 1.';
COMMENT ON COLUMN ocr_lines.text IS 'Text of the line as tesseract read it (never corrected by hand or by the pipeline).';
COMMENT ON COLUMN ocr_lines.confidence IS 'Mean tesseract word confidence of the line, 0 to 100.';
COMMENT ON COLUMN ocr_lines.x IS 'Left edge of the line box in pixels of the original image.';
COMMENT ON COLUMN ocr_lines.y IS 'Top edge of the line box in pixels of the original image.';
COMMENT ON COLUMN ocr_lines.w IS 'Width of the line box in pixels.';
COMMENT ON COLUMN ocr_lines.h IS 'Height of the line box in pixels.';
COMMENT ON COLUMN ocr_lines.lang IS 'Tesseract language(s) used, e.g. eng or eng+deu.';
COMMENT ON COLUMN ocr_lines.words IS 'Words of the line: text, confidence (0 to 100) and box in original pixels.';

CREATE TABLE IF NOT EXISTS ocr_regions (
    message_id VARCHAR PRIMARY KEY,
    sha256 VARCHAR NOT NULL,
    x INTEGER NOT NULL,
    y INTEGER NOT NULL,
    w INTEGER NOT NULL,
    h INTEGER NOT NULL,
    side VARCHAR NOT NULL,
    confidence DOUBLE,
    app VARCHAR,
    contact VARCHAR,
    time_text VARCHAR,
    day_text VARCHAR,
    fill_color VARCHAR
);
COMMENT ON TABLE ocr_regions IS 'The screen region (chat bubble) behind each OCR-read message (messages.kind = ocr): what was read where, and how sure OCR was.';
COMMENT ON COLUMN ocr_regions.message_id IS 'Message read from this region (messages.message_id, kind ocr).';
COMMENT ON COLUMN ocr_regions.sha256 IS 'Screenshot the region is in (images.sha256).';
COMMENT ON COLUMN ocr_regions.x IS 'Left edge of the bubble in pixels of the original image.';
COMMENT ON COLUMN ocr_regions.y IS 'Top edge of the bubble in pixels.';
COMMENT ON COLUMN ocr_regions.w IS 'Width of the bubble in pixels.';
COMMENT ON COLUMN ocr_regions.h IS 'Height of the bubble in pixels.';
COMMENT ON COLUMN ocr_regions.side IS 'left (drawn as received: incoming) or right (drawn as sent by the screenshot owner: outgoing).';
COMMENT ON COLUMN ocr_regions.confidence IS 'Mean tesseract word confidence of the text in the bubble, 0 to 100.';
COMMENT ON COLUMN ocr_regions.app IS 'Chat app recognised from the screenshot colours or text (whatsapp), NULL when not recognised.';
COMMENT ON COLUMN ocr_regions.contact IS 'Contact or chat name read from the screenshot header by OCR.';
COMMENT ON COLUMN ocr_regions.time_text IS 'Time stamp read in or next to the bubble, as read.';
COMMENT ON COLUMN ocr_regions.day_text IS 'Day separator above the bubble (12 March 2024, Today, ...), as read.';
COMMENT ON COLUMN ocr_regions.fill_color IS 'Bubble colour as #rrggbb (what side and app detection were based on).';

CREATE TABLE IF NOT EXISTS image_groups (
    sha256 VARCHAR PRIMARY KEY,
    group_id VARCHAR NOT NULL,
    representative_sha256 VARCHAR NOT NULL,
    phash_distance INTEGER,
    text_similarity DOUBLE,
    reason VARCHAR NOT NULL
);
COMMENT ON TABLE image_groups IS 'Near-identical images (re-saved, cropped, recompressed screenshots) grouped together; every member stays a separate original.';
COMMENT ON COLUMN image_groups.sha256 IS 'Member image (images.sha256).';
COMMENT ON COLUMN image_groups.group_id IS 'Group identifier, kept as images join the group in later runs; groups joined together keep the smallest of their ids.';
COMMENT ON COLUMN image_groups.representative_sha256 IS 'The largest image of the group (most pixels), shown first.';
COMMENT ON COLUMN image_groups.phash_distance IS 'Hamming distance between this image''s perceptual hash and the representative''s (0 = same picture, 64 bits in all).';
COMMENT ON COLUMN image_groups.text_similarity IS 'Similarity of this image''s OCR text to the representative''s, 0 to 100 (rapidfuzz), when both have text.';
COMMENT ON COLUMN image_groups.reason IS 'Why the image is in the group, in words.';

CREATE TABLE IF NOT EXISTS corroborations (
    ocr_message_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    text_score DOUBLE NOT NULL,
    conversation_score DOUBLE,
    time_delta_seconds DOUBLE,
    reason VARCHAR NOT NULL,
    PRIMARY KEY (ocr_message_id, message_id)
);
COMMENT ON TABLE corroborations IS 'OCR-read messages from screenshots that match an exported message: the screenshot corroborates the export (and the export confirms what OCR read). A suggestion, not a merge.';
COMMENT ON COLUMN corroborations.ocr_message_id IS 'Message read by OCR from a screenshot (messages.kind = ocr).';
COMMENT ON COLUMN corroborations.message_id IS 'Exported message it matches (messages.message_id).';
COMMENT ON COLUMN corroborations.text_score IS 'Similarity of the two texts, 0 to 100: rapidfuzz ratio of both messages'' match_text with spaces removed and letters OCR confuses folded (l/1 as i, 0 as o, rn as m).';
COMMENT ON COLUMN corroborations.conversation_score IS 'Fuzzy similarity of the screenshot header name to the export''s conversation or sender, 0 to 100; NULL when the screenshot shows none.';
COMMENT ON COLUMN corroborations.time_delta_seconds IS 'Export time minus screenshot time in seconds; NULL when the screenshot has no usable date.';
COMMENT ON COLUMN corroborations.reason IS 'Why the two are linked, in words.';

CREATE TABLE IF NOT EXISTS ocr_message_windows (
    ocr_message_id VARCHAR PRIMARY KEY,
    sha256 VARCHAR NOT NULL,
    earliest_utc TIMESTAMPTZ,
    latest_utc TIMESTAMPTZ,
    minute_of_day SMALLINT,
    tz VARCHAR,
    basis VARCHAR NOT NULL
);
COMMENT ON TABLE ocr_message_windows IS 'When each OCR-read message can have been sent, as far as its screenshot shows: where screenshot corroboration looks for the exported message, from either side (a new screenshot, or a new export).';
COMMENT ON COLUMN ocr_message_windows.ocr_message_id IS 'Message read by OCR (messages.message_id, kind ocr).';
COMMENT ON COLUMN ocr_message_windows.sha256 IS 'Screenshot it was read from (images.sha256).';
COMMENT ON COLUMN ocr_message_windows.earliest_utc IS 'Earliest time it can have been sent; NULL when nothing on or about the screenshot bounds it.';
COMMENT ON COLUMN ocr_message_windows.latest_utc IS 'Latest time it can have been sent; equal to earliest_utc when the screenshot shows its date and time.';
COMMENT ON COLUMN ocr_message_windows.minute_of_day IS 'Time of day shown on the bubble in minutes after midnight (local time in tz), NULL when none was read.';
COMMENT ON COLUMN ocr_message_windows.tz IS 'Time zone the bubble time was read in (the run''s --tz).';
COMMENT ON COLUMN ocr_message_windows.basis IS 'screen_date (day separator and time on screen), dated_bubble_below (a later dated bubble of the same screenshot bounds it), capture_time (the screenshot''s own time bounds it) or none.';
