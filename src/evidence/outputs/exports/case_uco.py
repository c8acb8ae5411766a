"""CASE/UCO JSON-LD (CASE 1.x, https://caseontology.org): what the case holds and how it got there, for tools
that exchange forensic results.

The graph holds:
- each ingest run as a case-investigation:InvestigativeAction (start, end, the examiner as performer, the
  tool and its version as instrument, the files it read as objects) with a ProvenanceRecord naming the
  files and the messages it produced, all in one case-investigation:Investigation;
- every original as a uco-observable:File with its size, MIME type and SHA-256 and MD5 hashes;
- every distinct message (the timeline's canonical rows) as a uco-observable:Message with a MessageFacet
  (text, sent time, from and to accounts, application) and an ObservableRelationship Contained_Within the
  file it was read from, its locator inside that file in the relationship's description; analysis flags as
  core:tag;
- the accounts messages were sent from and to: PhoneAccount (PhoneAccountFacet), EmailAddress
  (EmailAddressFacet), other accounts (AccountFacet); a sender known only by a display name becomes an
  ApplicationAccount with that display name, never a person. People (actors) are not exported: who an
  account belongs to is an analyst's conclusion, recorded in the case, not an observation.

Node IRIs end in a UUID derived (uuid5) from content keys (hashes, message ids, identifier ids), so the same
case exports to the same graph. With --redact, account IRIs are numbered instead: an id derived from a
phone number could be reversed by trying every number.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from evidence.outputs.exports.common import ExportResult, iso_utc, open_atomically
from evidence.outputs.redact import Redactor

TOOL_NAME = "evidence-pipeline"
# Namespace of this tool's node ids: uuid5(NAMESPACE_URL, "urn:evidence-pipeline:case-uco").
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:evidence-pipeline:case-uco")

CONTEXT = {
    "kb": "urn:evidence-pipeline:kb:",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

RUNS_SQL = """
SELECT run_id, started_at, finished_at, tool_version, examiner, status FROM ingest_runs ORDER BY started_at, run_id
"""
FILES_SQL = """
SELECT sha256, md5, size_bytes, mime, format, status, first_seen_path FROM files ORDER BY sha256
"""
RUN_FILES_SQL = """
SELECT DISTINCT r.run_id, r.sha256 FROM run_files r JOIN files f USING (sha256) ORDER BY 1, 2
"""
MESSAGES_SQL = """
WITH roles AS (
    SELECT message_id,
           min(identifier_id) FILTER (WHERE role = 'sender') AS sender_id,
           list(DISTINCT identifier_id ORDER BY identifier_id) FILTER (WHERE role = 'recipient') AS recipient_ids
    FROM message_identifiers GROUP BY message_id
)
SELECT t.event_id, t.occurred_at_utc, t.occurred_at_local, t.platform, t.kind, t.sender, t.text,
       t.source_sha256, t.source_locator, t.flags, t.conversation, t.tz_source, t.time_precision,
       m.external_id, m.loaded_in_run, r.sender_id, r.recipient_ids
FROM timeline t
JOIN messages m ON m.message_id = t.event_id
LEFT JOIN roles r ON r.message_id = t.event_id
ORDER BY t.occurred_at_utc NULLS LAST, t.source_sha256, t.source_locator
"""
IDENTIFIERS_SQL = "SELECT identifier_id, kind, value FROM identifiers ORDER BY identifier_id"


def node_id(kind: str, key: str) -> str:
    """kb:Kind-<uuid5>: stable for the same content, ending in a UUID as CASE suggests."""
    return f"kb:{kind}-{uuid.uuid5(NAMESPACE, f'{kind}|{key}')}"


def ref(iri: str) -> dict[str, str]:
    return {"@id": iri}


def typed(value: str, datatype: str) -> dict[str, str]:
    return {"@type": datatype, "@value": value}


def export(con: Any, path: Path, redactor: Redactor, case_name: str = "case") -> ExportResult:
    graph = _Graph(con, redactor, case_name)
    nodes = 0
    with open_atomically(path) as out:
        out.write('{\n"@context": ' + json.dumps(CONTEXT, indent=1) + ',\n"@graph": [\n')
        for node in graph.nodes():
            out.write((",\n" if nodes else "") + json.dumps(node, ensure_ascii=False, sort_keys=True))
            nodes += 1
        out.write("\n]\n}\n")
    notes = []
    if Path(path).suffix.lower() not in (".jsonld", ".json"):
        notes.append("name the file .jsonld so RDF tools (case_validate, rdflib) recognise it as JSON-LD")
    return ExportResult(
        paths=[Path(path)],
        rows=nodes,
        notes=notes,
        details={"nodes": nodes, "messages": graph.message_count, "files": graph.file_count},
    )


class _Graph:
    """Yields the graph's nodes in a fixed order; keeps only what links between them need."""

    def __init__(self, con: Any, redactor: Redactor, case_name: str) -> None:
        self.con = con
        self.redactor = redactor
        self.case_name = case_name
        self.message_count = 0
        self.file_count = 0
        self.file_ids: set[str] = set()

    def nodes(self) -> Iterator[dict[str, Any]]:
        runs = self.con.execute(RUNS_SQL).fetchall()
        run_files: dict[str, list[str]] = {}
        for run_id, sha256 in self.con.execute(RUN_FILES_SQL).fetchall():
            run_files.setdefault(run_id, []).append(sha256)

        yield from self._files()
        accounts = _Accounts(self.con, self.redactor)
        applications: dict[str, str] = {}
        run_messages: dict[str, list[str]] = {}
        cursor = self.con.execute(MESSAGES_SQL)
        names = [d[0] for d in cursor.description]
        while batch := cursor.fetchmany(5_000):
            for values in batch:
                row = dict(zip(names, values, strict=True))
                message = node_id("Message", row["event_id"])
                if row["loaded_in_run"]:
                    run_messages.setdefault(row["loaded_in_run"], []).append(message)
                platform = row["platform"] or "unknown"
                if platform not in applications:
                    applications[platform] = node_id("Application", platform)
                    yield {
                        "@id": applications[platform],
                        "@type": "uco-observable:Application",
                        "uco-core:name": platform,
                    }
                yield from accounts.needed(row)
                yield from self._message(row, message, applications[platform], accounts)

        tools: dict[str, str] = {}
        people: dict[str, str] = {}
        actions: list[str] = []
        for run_id, started, finished, version, examiner, status in runs:
            version = version or "unknown"
            if version not in tools:
                tools[version] = node_id("Tool", f"{TOOL_NAME}|{version}")
                yield {
                    "@id": tools[version],
                    "@type": "uco-tool:Tool",
                    "uco-core:name": TOOL_NAME,
                    "uco-tool:version": version,
                    "uco-tool:toolType": "evidence ingestion and analysis",
                }
            who = examiner or "unknown examiner"
            if who not in people:
                people[who] = node_id("Person", who)
                yield {"@id": people[who], "@type": "uco-identity:Person", "uco-core:name": who}
            files = [node_id("File", s) for s in run_files.get(run_id, []) if s in self.file_ids]
            produced = run_messages.get(run_id, [])
            record = node_id("ProvenanceRecord", run_id)
            yield {
                "@id": record,
                "@type": "case-investigation:ProvenanceRecord",
                "uco-core:description": (
                    f"Originals read by ingest run {run_id}, each stored by SHA-256 in the case's originals/, "
                    "and the distinct messages first loaded from them."
                ),
                "uco-core:object": [ref(i) for i in files + produced],
            }
            action = node_id("InvestigativeAction", run_id)
            actions.append(action)
            node: dict[str, Any] = {
                "@id": action,
                "@type": "case-investigation:InvestigativeAction",
                "uco-core:name": f"ingest {run_id}",
                "uco-core:description": (
                    "evidence ingest: hash and store the sources, parse them, load the case database"
                    + (f" (status {status})" if status else "")
                ),
                "uco-action:performer": ref(people[who]),
                "uco-action:instrument": ref(tools[version]),
                "uco-action:object": [ref(i) for i in files],
                "uco-action:result": [ref(record), *(ref(i) for i in produced)],
            }
            if started is not None:
                node["uco-action:startTime"] = typed(iso_utc(started) or "", "xsd:dateTime")
            if finished is not None:
                node["uco-action:endTime"] = typed(iso_utc(finished) or "", "xsd:dateTime")
            yield node
        yield {
            "@id": node_id("Investigation", self.case_name),
            "@type": "case-investigation:Investigation",
            "uco-core:name": self.case_name,
            "case-investigation:focus": "online stalking: course of conduct",
            "uco-core:object": [ref(a) for a in actions],
        }

    def _files(self) -> Iterator[dict[str, Any]]:
        for sha256, md5, size, mime, fmt, status, first_path in self.con.execute(FILES_SQL).fetchall():
            file_iri = node_id("File", sha256)
            self.file_ids.add(sha256)
            self.file_count += 1
            hashes = []
            for method, value in (("SHA256", sha256), ("MD5", md5)):
                if not value:
                    continue
                hash_iri = node_id("Hash", f"{method}|{value}")
                hashes.append(ref(hash_iri))
                yield {
                    "@id": hash_iri,
                    "@type": "uco-types:Hash",
                    "uco-types:hashMethod": method,
                    "uco-types:hashValue": typed(value, "xsd:hexBinary"),
                }
            path_text = self.redactor.text(first_path) or ""
            file_facet = {
                "@id": node_id("FileFacet", sha256),
                "@type": "uco-observable:FileFacet",
                "uco-observable:fileName": PurePosixPath(path_text.replace("\\", "/")).name or path_text,
                "uco-observable:filePath": path_text,
                "uco-observable:sizeInBytes": int(size),
            }
            content = {
                "@id": node_id("ContentDataFacet", sha256),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:sizeInBytes": int(size),
                "uco-observable:hash": hashes,
            }
            if mime:
                content["uco-observable:mimeType"] = mime
            yield file_facet
            yield content
            description = f"status {status}" + (f", read as {fmt}" if fmt else "")
            yield {
                "@id": file_iri,
                "@type": "uco-observable:File",
                "uco-core:description": description,
                "uco-core:hasFacet": [ref(file_facet["@id"]), ref(content["@id"])],
            }

    def _message(
        self, row: dict[str, Any], message: str, application: str, accounts: _Accounts
    ) -> Iterator[dict[str, Any]]:
        self.message_count += 1
        text = self.redactor.text
        facet: dict[str, Any] = {
            "@id": node_id("MessageFacet", row["event_id"]),
            "@type": "uco-observable:MessageFacet",
            "uco-observable:application": ref(application),
            "uco-observable:messageType": row["kind"],
        }
        if row["text"]:
            facet["uco-observable:messageText"] = text(row["text"])
        if row["occurred_at_utc"] is not None:
            facet["uco-observable:sentTime"] = typed(iso_utc(row["occurred_at_utc"]) or "", "xsd:dateTime")
        if row["external_id"]:
            facet["uco-observable:messageID"] = text(row["external_id"])
        sender = accounts.sender_of(row)
        if sender:
            facet["uco-observable:from"] = ref(sender)
        recipients = accounts.recipients_of(row)
        if recipients:
            facet["uco-observable:to"] = [ref(r) for r in recipients]
        yield facet
        when = row["occurred_at_local"] or "no date"
        node: dict[str, Any] = {
            "@id": message,
            "@type": "uco-observable:Message",
            "uco-core:description": (
                f"time as written: {when} (time zone from {row['tz_source']}, precision {row['time_precision']})"
            ),
            "uco-core:hasFacet": [ref(facet["@id"])],
        }
        if row["flags"]:
            node["uco-core:tag"] = list(row["flags"])
        yield node
        if row["source_sha256"] in self.file_ids:
            yield {
                "@id": node_id("Relationship", f"contained|{row['event_id']}"),
                "@type": "uco-observable:ObservableRelationship",
                "uco-core:source": [ref(message)],
                "uco-core:target": ref(node_id("File", row["source_sha256"])),
                "uco-core:kindOfRelationship": "Contained_Within",
                "uco-core:isDirectional": True,
                "uco-core:description": f"source locator: {row['source_locator']}",
            }


class _Accounts:
    """The accounts messages were sent from and to, each written once, the first time a message needs it."""

    def __init__(self, con: Any, redactor: Redactor) -> None:
        self.redactor = redactor
        self.identifiers = {i: (k, v) for i, k, v in con.execute(IDENTIFIERS_SQL).fetchall()}
        self.written: dict[str, str] = {}  # key -> IRI
        self.numbered: dict[str, int] = {}  # redacted exports: key -> position in sorted key order
        if redactor.enabled:
            keys = [f"identifier|{i}" for i in self.identifiers]
            keys += [
                _name_key(p, c, s)
                for p, c, s in con.execute(
                    "SELECT DISTINCT platform, conversation, sender FROM messages "
                    "WHERE sender_identifier IS NULL AND sender IS NOT NULL AND kind <> 'ocr'"
                ).fetchall()
            ]
            self.numbered = {key: n for n, key in enumerate(sorted(set(keys)))}

    def _iri(self, kind: str, key: str) -> str:
        if self.redactor.enabled:
            return node_id(kind, f"redacted|{self.numbered.get(key, key)}")
        return node_id(kind, key)

    def sender_of(self, row: dict[str, Any]) -> str | None:
        if row["sender_id"] in self.identifiers:
            return self.written.get(f"identifier|{row['sender_id']}")
        if row["sender"] and row["kind"] != "ocr":
            return self.written.get(_name_key(row["platform"], row["conversation"], row["sender"]))
        return None

    def recipients_of(self, row: dict[str, Any]) -> list[str]:
        found = (self.written.get(f"identifier|{i}") for i in row["recipient_ids"] or [])
        return list(dict.fromkeys(i for i in found if i))

    def needed(self, row: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The account nodes this message's from and to need and that are not written yet."""
        for identifier_id in [row["sender_id"], *(row["recipient_ids"] or [])]:
            if identifier_id in self.identifiers and f"identifier|{identifier_id}" not in self.written:
                yield from self._identifier(identifier_id)
        if row["sender_id"] not in self.identifiers and row["sender"] and row["kind"] != "ocr":
            key = _name_key(row["platform"], row["conversation"], row["sender"])
            if key not in self.written:
                yield from self._display_name(key, row)

    def _identifier(self, identifier_id: str) -> Iterator[dict[str, Any]]:
        kind, value = self.identifiers[identifier_id]
        key = f"identifier|{identifier_id}"
        shown = self.redactor.identifier(value) or ""
        if kind == "email":
            iri = self._iri("EmailAddress", key)
            facet = {
                "@id": self._iri("EmailAddressFacet", key),
                "@type": "uco-observable:EmailAddressFacet",
                "uco-observable:addressValue": shown,
            }
            yield facet
            yield {
                "@id": iri,
                "@type": "uco-observable:EmailAddress",
                "uco-core:hasFacet": [ref(facet["@id"])],
            }
        else:
            cls = "PhoneAccount" if kind == "phone" else "DigitalAccount"
            iri = self._iri(cls, key)
            account_facet = {
                "@id": self._iri("AccountFacet", key),
                "@type": "uco-observable:AccountFacet",
                "uco-observable:accountIdentifier": shown,
            }
            facets = [account_facet]
            if kind == "phone":
                facets.append(
                    {
                        "@id": self._iri("PhoneAccountFacet", key),
                        "@type": "uco-observable:PhoneAccountFacet",
                        "uco-observable:phoneNumber": shown,
                    }
                )
            yield from facets
            node = {
                "@id": iri,
                "@type": f"uco-observable:{cls}",
                "uco-core:hasFacet": [ref(f["@id"]) for f in facets],
            }
            if kind != "phone":
                node["uco-core:description"] = f"{kind} identifier"
            yield node
        self.written[key] = iri

    def _display_name(self, key: str, row: dict[str, Any]) -> Iterator[dict[str, Any]]:
        iri = self._iri("ApplicationAccount", key)
        facet = {
            "@id": self._iri("DigitalAccountFacet", key),
            "@type": "uco-observable:DigitalAccountFacet",
            "uco-observable:displayName": self.redactor.text(row["sender"]),
        }
        app_facet = {
            "@id": self._iri("ApplicationAccountFacet", key),
            "@type": "uco-observable:ApplicationAccountFacet",
            "uco-observable:application": ref(node_id("Application", row["platform"] or "unknown")),
        }
        yield facet
        yield app_facet
        yield {
            "@id": iri,
            "@type": "uco-observable:ApplicationAccount",
            "uco-core:description": (
                f"known only by the display name shown in {row['platform']} conversation "
                f"{self.redactor.text(row['conversation']) or '(unnamed)'}"
            ),
            "uco-core:hasFacet": [ref(facet["@id"]), ref(app_facet["@id"])],
        }
        self.written[key] = iri


def _name_key(platform: str | None, conversation: str | None, sender: str) -> str:
    return f"name|{platform}|{conversation}|{sender}"
