//! `SPEC.md` and the code agree: every table's columns, the code tables, the byte layout of the
//! headers, footer and trailer, the constants and the format version.
//!
//! The spec is parsed by convention: a table section is headed `` ### `NAME` (table id N) `` and
//! holds one `| column | type | nullable | meaning |` table; a code table is headed
//! `` #### `TABLE.COLUMN` codes `` and holds one `| code | name | meaning |` table; a byte layout
//! is a `| offset | size | type | field | meaning |` table under its named heading.

use std::collections::BTreeSet;

use pyttd_format::layout::{self, FileHeader, FooterEntry, SegmentHeader};
use pyttd_format::{
    CodeKind, EventKind, FORMAT_VERSION, OutputStream, Table, ValueRole, ValueTag, spec_type_name,
};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md");

const COLUMNS_HEADER: [&str; 4] = ["column", "type", "nullable", "meaning"];
const CODES_HEADER: [&str; 3] = ["code", "name", "meaning"];
const CONSTANTS_HEADER: [&str; 3] = ["constant", "value", "meaning"];
const LAYOUT_HEADER: [&str; 5] = ["offset", "size", "type", "field", "meaning"];

/// A heading and the lines up to the next heading of any level.
#[derive(Debug)]
struct Section {
    heading: String,
    line: usize,
    lines: Vec<(usize, String)>,
}

/// A Markdown table: its header cells and its rows, each with its 1-based line number.
#[derive(Debug)]
struct MdTable {
    line: usize,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

fn read_spec() -> Vec<Section> {
    let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("cannot read SPEC.md: {e}"));
    let mut sections: Vec<Section> = Vec::new();
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with('#') {
            sections.push(Section {
                heading: line.to_string(),
                line: line_no,
                lines: Vec::new(),
            });
        } else if let Some(s) = sections.last_mut() {
            s.lines.push((line_no, line.to_string()));
        }
    }
    assert!(!in_fence, "SPEC.md has an unclosed ``` fence");
    sections
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

impl Section {
    fn tables(&self) -> Vec<MdTable> {
        let mut tables = Vec::new();
        let mut current: Option<MdTable> = None;
        for (line_no, line) in &self.lines {
            if !line.trim_start().starts_with('|') {
                tables.extend(current.take());
                continue;
            }
            match &mut current {
                None => {
                    current = Some(MdTable {
                        line: *line_no,
                        header: cells(line),
                        rows: Vec::new(),
                    })
                }
                Some(t) => {
                    let row = cells(line);
                    let separator = row
                        .iter()
                        .all(|c| !c.is_empty() && c.chars().all(|ch| "-: ".contains(ch)));
                    if !separator {
                        t.rows.push((*line_no, row));
                    }
                }
            }
        }
        tables.extend(current);
        tables
    }

    /// The one table of this section whose header is `header`; an error otherwise.
    fn table(&self, header: &[&str]) -> Result<MdTable, String> {
        let mut found: Vec<MdTable> = self
            .tables()
            .into_iter()
            .filter(|t| t.header == header)
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(format!(
                "SPEC.md:{} `{}` should hold one `| {} |` table, found {n}",
                self.line,
                self.heading,
                header.join(" | ")
            )),
        }
    }
}

/// The text inside a cell that is one code span, like `` `UInt64` ``.
fn code_span(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?
        .strip_suffix('`')
        .filter(|s| !s.contains('`'))
}

fn find<'a>(sections: &'a [Section], heading: &str) -> Result<&'a Section, String> {
    let mut found = sections.iter().filter(|s| s.heading == heading);
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(s),
        (None, _) => Err(format!("SPEC.md has no heading `{heading}`")),
        (Some(a), Some(b)) => Err(format!(
            "SPEC.md has the heading `{heading}` twice (lines {} and {})",
            a.line, b.line
        )),
    }
}

fn check(errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "SPEC.md disagrees with the code ({} problems):\n  - {}",
        errors.len(),
        errors.join("\n  - ")
    );
}

// ---------------------------------------------------------------------------------------------
// Tables and their columns

/// `### `NAME` (table id N)` → `(NAME, N)`; `None` for other headings.
fn table_heading(heading: &str) -> Option<Result<(String, u16), String>> {
    let rest = heading.strip_prefix("### ")?;
    if !rest.contains("(table id") {
        return None;
    }
    let parsed = rest
        .strip_prefix('`')
        .and_then(|r| r.split_once("` (table id "))
        .and_then(|(name, id)| {
            // `(table id N)`, or `(table id N, since 1.M)` for tables a minor version added.
            let id = id.strip_suffix(')')?.split(',').next()?.trim();
            Some((name.to_string(), id.parse().ok()?))
        });
    Some(
        parsed
            .ok_or_else(|| format!("heading `{heading}` does not read `### `NAME` (table id N)`")),
    )
}

/// What SPEC.md says about one column: name, type and nullability as written there.
#[derive(Debug, PartialEq, Eq)]
struct ColumnRow {
    name: String,
    type_name: String,
    nullable: String,
}

fn column_rows(table: &str, md: &MdTable, errors: &mut Vec<String>) -> Vec<ColumnRow> {
    let mut rows = Vec::new();
    for (line, cells) in &md.rows {
        if cells.len() != COLUMNS_HEADER.len() {
            errors.push(format!(
                "SPEC.md:{line} `{table}` row has {} cells, expected {} (a `|` in a meaning?)",
                cells.len(),
                COLUMNS_HEADER.len()
            ));
            continue;
        }
        let (Some(name), Some(type_name)) = (code_span(&cells[0]), code_span(&cells[1])) else {
            errors.push(format!(
                "SPEC.md:{line} `{table}` row: column name and type must each be in backticks, \
                 got `{}` and `{}`",
                cells[0], cells[1]
            ));
            continue;
        };
        rows.push(ColumnRow {
            name: name.to_string(),
            type_name: type_name.to_string(),
            nullable: cells[2].clone(),
        });
    }
    rows
}

fn code_columns(table: Table) -> Vec<ColumnRow> {
    table
        .schema()
        .fields()
        .iter()
        .map(|f| ColumnRow {
            name: f.name().clone(),
            type_name: spec_type_name(f.data_type()),
            nullable: if f.is_nullable() { "yes" } else { "no" }.to_string(),
        })
        .collect()
}

fn compare_columns(table: Table, md: &MdTable, errors: &mut Vec<String>) {
    let name = table.name();
    let spec = column_rows(name, md, errors);
    let code = code_columns(table);
    for i in 0..spec.len().max(code.len()) {
        let line = md.rows.get(i).map_or(md.line, |r| r.0);
        match (spec.get(i), code.get(i)) {
            (Some(s), Some(c)) => {
                if s.name != c.name {
                    errors.push(format!(
                        "SPEC.md:{line} `{name}` column {i}: SPEC.md names it `{}`, the code `{}`",
                        s.name, c.name
                    ));
                }
                if s.type_name != c.type_name {
                    errors.push(format!(
                        "SPEC.md:{line} `{name}.{}` (column {i}): SPEC.md says type `{}`, the code `{}`",
                        c.name, s.type_name, c.type_name
                    ));
                }
                if s.nullable != c.nullable {
                    errors.push(format!(
                        "SPEC.md:{line} `{name}.{}` (column {i}): SPEC.md says nullable `{}`, the code `{}`",
                        c.name, s.nullable, c.nullable
                    ));
                }
            }
            (None, Some(c)) => errors.push(format!(
                "`{name}.{}` (column {i}, `{}`, nullable {}) is in the code but not in SPEC.md",
                c.name, c.type_name, c.nullable
            )),
            (Some(s), None) => errors.push(format!(
                "SPEC.md:{line} `{name}.{}` (column {i}) is in SPEC.md but not in the code",
                s.name
            )),
            (None, None) => unreachable!(),
        }
    }
}

/// The `Seq column: `x`.` (or `Seq column: none.`) line of a table section.
fn stated_seq_column(section: &Section) -> Result<Option<String>, String> {
    let mut stated = section
        .lines
        .iter()
        .filter_map(|(_, l)| l.strip_prefix("Seq column: "));
    let (Some(rest), None) = (stated.next(), stated.next()) else {
        return Err(format!(
            "SPEC.md:{} `{}` should have exactly one line starting `Seq column: `",
            section.line, section.heading
        ));
    };
    if rest.starts_with("none") {
        return Ok(None);
    }
    rest.strip_prefix('`')
        .and_then(|r| r.split_once('`'))
        .map(|(c, _)| Some(c.to_string()))
        .ok_or_else(|| format!("SPEC.md:{} cannot read `Seq column: {rest}`", section.line))
}

#[test]
fn spec_matches_code() {
    let sections = read_spec();
    let mut errors = Vec::new();
    let mut seen: Vec<(String, u16, usize)> = Vec::new();
    for s in &sections {
        match table_heading(&s.heading) {
            Some(Ok((name, id))) => seen.push((name, id, s.line)),
            Some(Err(e)) => errors.push(format!("SPEC.md:{} {e}", s.line)),
            None => {}
        }
    }

    for table in Table::ALL {
        let name = table.name();
        let matching: Vec<&(String, u16, usize)> =
            seen.iter().filter(|(n, ..)| n == name).collect();
        let &[&(_, id, line)] = matching.as_slice() else {
            errors.push(format!(
                "SPEC.md should have one section `### `{name}` (table id {})`, found {}",
                table.id(),
                matching.len()
            ));
            continue;
        };
        if id != table.id() {
            errors.push(format!(
                "SPEC.md:{line} gives `{name}` table id {id}, the code {}",
                table.id()
            ));
        }
        let section = sections
            .iter()
            .find(|s| s.line == line)
            .expect("section exists");
        match section.table(&COLUMNS_HEADER) {
            Ok(md) => compare_columns(table, &md, &mut errors),
            Err(e) => errors.push(e),
        }
        match stated_seq_column(section) {
            Ok(stated) if stated.as_deref() == table.seq_column() => {}
            Ok(stated) => errors.push(format!(
                "SPEC.md:{line} says the seq column of `{name}` is {:?}, the code {:?}",
                stated,
                table.seq_column()
            )),
            Err(e) => errors.push(e),
        }
    }

    for (name, id, line) in &seen {
        if Table::from_name(name).is_none() {
            errors.push(format!(
                "SPEC.md:{line} has a section for table `{name}` (table id {id}), which the code does not have"
            ));
        }
    }
    let order: Vec<u16> = seen.iter().map(|&(_, id, _)| id).collect();
    if !order.is_sorted() {
        errors.push(format!(
            "SPEC.md lists the tables out of id order: {order:?}"
        ));
    }
    check(errors);
}

// ---------------------------------------------------------------------------------------------
// Code tables

fn codes<T: Copy>(all: &[T], code: fn(T) -> u8, name: fn(T) -> &'static str) -> Vec<(u8, String)> {
    all.iter()
        .map(|&v| (code(v), name(v).to_string()))
        .collect()
}

#[test]
fn spec_code_tables_match_enums() {
    let expected: Vec<(&str, Vec<(u8, String)>)> = vec![
        (
            "code.kind",
            codes(CodeKind::ALL, CodeKind::code, CodeKind::as_str),
        ),
        (
            "events.kind",
            codes(EventKind::ALL, EventKind::code, EventKind::as_str),
        ),
        (
            "values.tag",
            codes(ValueTag::ALL, ValueTag::code, ValueTag::as_str),
        ),
        (
            "values.role",
            codes(ValueRole::ALL, ValueRole::code, ValueRole::as_str),
        ),
        (
            "output.stream",
            codes(OutputStream::ALL, OutputStream::code, OutputStream::as_str),
        ),
    ];
    let sections = read_spec();
    let mut errors = Vec::new();

    for s in &sections {
        let Some(rest) = s.heading.strip_prefix("#### ") else {
            continue;
        };
        if !rest.ends_with(" codes") {
            continue;
        }
        let column = rest.strip_suffix(" codes").and_then(code_span);
        if !column.is_some_and(|c| expected.iter().any(|(e, _)| *e == c)) {
            errors.push(format!(
                "SPEC.md:{} code table `{}` is not one of {:?}",
                s.line,
                s.heading,
                expected.iter().map(|(e, _)| *e).collect::<Vec<_>>()
            ));
        }
    }

    for (column, want) in &expected {
        let (table, col) = column.split_once('.').expect("TABLE.COLUMN");
        let field =
            Table::from_name(table).and_then(|t| t.schema().field_with_name(col).ok().cloned());
        if field.is_none_or(|f| f.data_type() != &arrow_schema::DataType::UInt8) {
            errors.push(format!(
                "the code has no UInt8 column `{column}` for a code table"
            ));
        }
        let heading = format!("#### `{column}` codes");
        let md = match find(&sections, &heading).and_then(|s| s.table(&CODES_HEADER)) {
            Ok(md) => md,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut got = Vec::new();
        for (line, cells) in &md.rows {
            let parsed = (cells.len() == CODES_HEADER.len())
                .then(|| {
                    Some((
                        cells[0].parse::<u8>().ok()?,
                        code_span(&cells[1])?.to_string(),
                    ))
                })
                .flatten();
            match parsed {
                Some(row) => got.push((*line, row)),
                None => errors.push(format!(
                    "SPEC.md:{line} `{column}` row should read `| CODE | `name` | meaning |`, got {cells:?}"
                )),
            }
        }
        for i in 0..got.len().max(want.len()) {
            match (got.get(i), want.get(i)) {
                (Some((_, g)), Some(w)) if g == w => {}
                (Some((line, (gc, gn))), Some((wc, wn))) => errors.push(format!(
                    "SPEC.md:{line} `{column}` code row {i}: SPEC.md says {gc} = `{gn}`, the code {wc} = `{wn}`"
                )),
                (None, Some((wc, wn))) => errors.push(format!(
                    "`{column}` code {wc} = `{wn}` is in the code but not in SPEC.md"
                )),
                (Some((line, (gc, gn))), None) => errors.push(format!(
                    "SPEC.md:{line} `{column}` code {gc} = `{gn}` is in SPEC.md but not in the code"
                )),
                (None, None) => unreachable!(),
            }
        }
    }
    check(errors);
}

// ---------------------------------------------------------------------------------------------
// Byte layout, constants, version

/// One byte-layout table of the spec and the bytes `layout.rs` encodes for it, with the value
/// each named field must hold there (`reserved` must be zero).
struct Layout {
    heading: &'static str,
    bytes: Vec<u8>,
    fields: Vec<(&'static str, Vec<u8>)>,
}

fn layouts() -> Vec<Layout> {
    let crc = |b: &[u8]| SegmentHeader::checksum(b).to_le_bytes().to_vec();
    let file = FileHeader {
        major: 0x0A0B,
        minor: 0x0C0D,
    }
    .encode();
    let header = SegmentHeader {
        table_id: 0x0102,
        flags: 0x0304,
        row_count: 0x1011_1213_1415_1617,
        min_seq: 0x2021_2223_2425_2627,
        max_seq: 0x3031_3233_3435_3637,
        body_len: 0x4041_4243_4445_4647,
        body_crc: 0x5051_5253,
    };
    let segment = header.encode();
    let footer_offset = 0x7071_7273_7475_7677u64;
    let footer = layout::encode_footer(
        &[FooterEntry {
            offset: 0x6061_6263_6465_6667,
            header,
        }],
        footer_offset,
    );
    let preamble_len = layout::FOOTER_PREAMBLE_LEN;
    let footer_len = preamble_len + layout::FOOTER_ENTRY_LEN;
    assert_eq!(footer.len(), footer_len + layout::TRAILER_LEN);
    let le16 = |v: u16| v.to_le_bytes().to_vec();
    let le32 = |v: u32| v.to_le_bytes().to_vec();
    let le64 = |v: u64| v.to_le_bytes().to_vec();
    vec![
        Layout {
            heading: "### File header",
            bytes: file.to_vec(),
            fields: vec![
                ("magic", layout::FILE_MAGIC.to_vec()),
                ("major", le16(0x0A0B)),
                ("minor", le16(0x0C0D)),
                ("header_crc", crc(&file[..60])),
            ],
        },
        Layout {
            heading: "### Segment header",
            bytes: segment.to_vec(),
            fields: vec![
                ("magic", layout::SEGMENT_MAGIC.to_vec()),
                ("table_id", le16(header.table_id)),
                ("flags", le16(header.flags)),
                ("row_count", le64(header.row_count)),
                ("min_seq", le64(header.min_seq)),
                ("max_seq", le64(header.max_seq)),
                ("body_len", le64(header.body_len)),
                ("body_crc", le32(header.body_crc)),
                ("header_crc", crc(&segment[..60])),
            ],
        },
        Layout {
            heading: "#### Footer preamble",
            bytes: footer[..preamble_len].to_vec(),
            fields: vec![
                ("magic", layout::FOOTER_MAGIC.to_vec()),
                ("entry_count", le64(1)),
            ],
        },
        Layout {
            heading: "#### Footer entry",
            bytes: footer[preamble_len..footer_len].to_vec(),
            fields: vec![
                ("offset", le64(0x6061_6263_6465_6667)),
                ("table_id", le16(header.table_id)),
                ("flags", le16(header.flags)),
                ("body_crc", le32(header.body_crc)),
                ("row_count", le64(header.row_count)),
                ("min_seq", le64(header.min_seq)),
                ("max_seq", le64(header.max_seq)),
                ("body_len", le64(header.body_len)),
            ],
        },
        Layout {
            heading: "### Trailer",
            bytes: footer[footer_len..].to_vec(),
            fields: vec![
                ("footer_offset", le64(footer_offset)),
                ("footer_len", le64(footer_len as u64)),
                ("footer_crc", crc(&footer[..footer_len])),
                ("magic", layout::END_MAGIC.to_vec()),
            ],
        },
    ]
}

/// Size in bytes of a layout type as SPEC.md spells it: `u16`, `u32`, `u64`, `[u8; N]`.
fn type_size(spelled: &str) -> Option<usize> {
    match spelled {
        "u8" => Some(1),
        "u16" => Some(2),
        "u32" => Some(4),
        "u64" => Some(8),
        _ => spelled
            .strip_prefix("[u8; ")?
            .strip_suffix(']')?
            .parse()
            .ok(),
    }
}

#[test]
fn spec_byte_layout_matches_layout_rs() {
    let sections = read_spec();
    let mut errors = Vec::new();
    for l in layouts() {
        let what = l.heading.trim_start_matches('#').trim();
        let md = match find(&sections, l.heading).and_then(|s| s.table(&LAYOUT_HEADER)) {
            Ok(md) => md,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut end = 0usize;
        let mut named = BTreeSet::new();
        for (line, cells) in &md.rows {
            let parsed = (cells.len() == LAYOUT_HEADER.len())
                .then(|| {
                    Some((
                        cells[0].parse::<usize>().ok()?,
                        cells[1].parse::<usize>().ok()?,
                        code_span(&cells[2])?,
                        code_span(&cells[3])?,
                    ))
                })
                .flatten();
            let Some((offset, size, ty, field)) = parsed else {
                errors.push(format!(
                    "SPEC.md:{line} {what} row should read `| OFFSET | SIZE | `type` | `field` | meaning |`, got {cells:?}"
                ));
                continue;
            };
            if offset != end {
                errors.push(format!(
                    "SPEC.md:{line} {what}: `{field}` starts at {offset} but the field before it ends at {end}"
                ));
            }
            if type_size(ty) != Some(size) {
                errors.push(format!(
                    "SPEC.md:{line} {what}: `{field}` is {size} bytes but its type `{ty}` is not"
                ));
            }
            end = offset + size;
            if !named.insert(field.to_string()) {
                errors.push(format!("SPEC.md:{line} {what}: `{field}` is listed twice"));
            }
            let Some(actual) = l.bytes.get(offset..offset + size) else {
                errors.push(format!(
                    "SPEC.md:{line} {what}: `{field}` at bytes {offset}..{} lies beyond the {} bytes layout.rs writes",
                    offset + size,
                    l.bytes.len()
                ));
                continue;
            };
            let expected = if field == "reserved" {
                vec![0u8; size]
            } else if let Some((_, v)) = l.fields.iter().find(|(n, _)| *n == field) {
                v.clone()
            } else {
                errors.push(format!(
                    "SPEC.md:{line} {what}: field `{field}` is not one layout.rs writes"
                ));
                continue;
            };
            if actual != expected.as_slice() {
                errors.push(format!(
                    "SPEC.md:{line} {what}: spec puts `{field}` at bytes {offset}..{}, but layout.rs \
                     writes `{}` there, not `{}`",
                    offset + size,
                    hex(actual),
                    hex(&expected)
                ));
            }
        }
        if end != l.bytes.len() {
            errors.push(format!(
                "SPEC.md:{} {what}: fields cover {end} bytes, layout.rs writes {}",
                md.line,
                l.bytes.len()
            ));
        }
        for (name, _) in &l.fields {
            if !named.contains(*name) {
                errors.push(format!(
                    "SPEC.md:{} {what}: layout.rs writes `{name}`, SPEC.md does not list it",
                    md.line
                ));
            }
        }
    }
    check(errors);
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn spec_quotes_constants_and_version() {
    let sections = read_spec();
    let mut errors = Vec::new();
    let expected: Vec<(&str, String)> = vec![
        ("FILE_MAGIC", hex(&layout::FILE_MAGIC)),
        ("SEGMENT_MAGIC", hex(&layout::SEGMENT_MAGIC)),
        ("FOOTER_MAGIC", hex(&layout::FOOTER_MAGIC)),
        ("END_MAGIC", hex(&layout::END_MAGIC)),
        ("BLOCK", layout::BLOCK.to_string()),
        (
            "FOOTER_PREAMBLE_LEN",
            layout::FOOTER_PREAMBLE_LEN.to_string(),
        ),
        ("FOOTER_ENTRY_LEN", layout::FOOTER_ENTRY_LEN.to_string()),
        ("TRAILER_LEN", layout::TRAILER_LEN.to_string()),
        ("FLAG_HAS_SEQ_RANGE", layout::FLAG_HAS_SEQ_RANGE.to_string()),
    ];
    match find(&sections, "### Constants").and_then(|s| s.table(&CONSTANTS_HEADER)) {
        Err(e) => errors.push(e),
        Ok(md) => {
            let mut listed = BTreeSet::new();
            for (line, cells) in &md.rows {
                let name = cells.first().and_then(|c| code_span(c)).unwrap_or_default();
                let value = cells.get(1).and_then(|c| code_span(c)).unwrap_or_default();
                listed.insert(name.to_string());
                match expected.iter().find(|(n, _)| *n == name) {
                    Some((_, v)) if v == value => {}
                    Some((_, v)) => errors.push(format!(
                        "SPEC.md:{line} says `{name}` is `{value}`, layout.rs `{v}`"
                    )),
                    None => errors.push(format!(
                        "SPEC.md:{line} lists constant `{name}`, which layout.rs does not have"
                    )),
                }
            }
            for (name, v) in &expected {
                if !listed.contains(*name) {
                    errors.push(format!(
                        "SPEC.md, Constants: `{name}` (`{v}`) is not listed"
                    ));
                }
            }
        }
    }

    let text = std::fs::read_to_string(SPEC).expect("SPEC.md is readable");
    let (major, minor) = FORMAT_VERSION;
    let quoted = format!("pub const FORMAT_VERSION: (u16, u16) = ({major}, {minor});");
    if !text.lines().any(|l| l.trim() == quoted) {
        errors.push(format!(
            "SPEC.md does not quote `{quoted}` on a line of its own"
        ));
    }
    let stated = format!("This document specifies version **{major}.{minor}**");
    if !text.contains(&stated) {
        errors.push(format!("SPEC.md does not say `{stated}`"));
    }
    if !text.starts_with(&format!(
        "# The pyttd trace format\n\nThis is version **{major}.{minor}**"
    )) {
        errors.push(format!(
            "SPEC.md should open with `This is version **{major}.{minor}** of the format`"
        ));
    }
    check(errors);
}

/// The column-encoding table of SPEC.md lists, per table, exactly the columns the current format
/// stores delta-coded.
#[test]
fn spec_delta_coded_columns_match_code() {
    let sections = read_spec();
    let section =
        find(&sections, "### Column encoding (since 2.0)").unwrap_or_else(|e| panic!("{e}"));
    let md = section
        .table(&["table", "delta-coded columns"])
        .unwrap_or_else(|e| panic!("{e}"));
    let spans = |cell: &str| -> Vec<String> {
        cell.split(',')
            .map(|c| {
                code_span(c.trim())
                    .unwrap_or_else(|| panic!("SPEC.md: `{c}` is not a code span"))
                    .to_string()
            })
            .collect()
    };
    let mut stated: Vec<(Table, Vec<String>)> = Vec::new();
    for (line, row) in &md.rows {
        for name in spans(&row[0]) {
            let table = Table::from_name(&name)
                .unwrap_or_else(|| panic!("SPEC.md:{line}: no table `{name}`"));
            stated.push((table, spans(&row[1])));
        }
    }
    let mut errors = Vec::new();
    for table in Table::ALL {
        let code = pyttd_format::delta_coded_columns(table);
        let spec = stated
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        if spec != code {
            errors.push(format!(
                "`{table}`: SPEC.md lists delta-coded columns {spec:?}, the code {code:?}"
            ));
        }
    }
    check(errors);
}

/// The zone-map table of SPEC.md lists, per table, exactly the columns the writer records.
#[test]
fn spec_zone_columns_match_writer() {
    let sections = read_spec();
    let section = find(&sections, "### Zone maps (since 1.1)").unwrap_or_else(|e| panic!("{e}"));
    let md = section
        .table(&["table", "zone columns"])
        .unwrap_or_else(|e| panic!("{e}"));
    let spans = |cell: &str| -> Vec<String> {
        cell.split(',')
            .map(|c| {
                code_span(c.trim())
                    .unwrap_or_else(|| panic!("SPEC.md: `{c}` is not a code span"))
                    .to_string()
            })
            .collect()
    };
    let mut stated: Vec<(Table, Vec<String>)> = Vec::new();
    for (line, row) in &md.rows {
        for name in spans(&row[0]) {
            let table = Table::from_name(&name)
                .unwrap_or_else(|| panic!("SPEC.md:{line}: no table `{name}`"));
            stated.push((table, spans(&row[1])));
        }
    }
    let mut errors = Vec::new();
    for table in Table::ALL {
        let code: Vec<String> = table.zone_columns().iter().map(|c| c.to_string()).collect();
        let spec = stated
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        if spec != code {
            errors.push(format!(
                "`{table}`: SPEC.md lists zone columns {spec:?}, the writer records {code:?}"
            ));
        }
        for column in &code {
            let field = table.schema().field_with_name(column).cloned();
            let integer = field.is_ok_and(|f| {
                matches!(
                    f.data_type(),
                    arrow_schema::DataType::UInt32 | arrow_schema::DataType::UInt64
                )
            });
            if !integer {
                errors.push(format!(
                    "`{table}.{column}` is not an unsigned integer column"
                ));
            }
        }
    }
    check(errors);
}
