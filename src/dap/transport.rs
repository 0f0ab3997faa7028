//! DAP's wire format: each message is `Content-Length: N\r\n\r\n` and N bytes of JSON.

use std::io::{self, BufRead, Write};

use serde_json::Value;

/// What reading the next message found.
#[derive(Debug)]
pub enum Incoming {
    Message(Value),
    /// A well-framed body that is not a JSON object.
    NotJson(String),
    /// The client closed the stream between messages.
    Closed,
}

/// The largest message body accepted (a DAP message is small; this guards the allocation).
const MAX_BODY: usize = 64 << 20;

/// Reads one message. A broken header is an error: the stream cannot be resynchronised.
pub fn read_message(input: &mut impl BufRead) -> io::Result<Incoming> {
    let mut length: Option<usize> = None;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            if first {
                return Ok(Incoming::Closed);
            }
            return Err(invalid("the stream ended inside a message header"));
        }
        first = false;
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| invalid(&format!("malformed header line {header:?}")))?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| invalid(&format!("bad Content-Length {:?}", value.trim())))?;
            if n > MAX_BODY {
                return Err(invalid(&format!("Content-Length {n} is too large")));
            }
            length = Some(n);
        }
    }
    let length = length.ok_or_else(|| invalid("a message header without Content-Length"))?;
    let mut body = vec![0u8; length];
    input.read_exact(&mut body)?;
    Ok(match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v.is_object() => Incoming::Message(v),
        Ok(_) => Incoming::NotJson("the message is not a JSON object".into()),
        Err(e) => Incoming::NotJson(format!("the message is not JSON: {e}")),
    })
}

/// Writes one message.
pub fn write_message(output: &mut impl Write, message: &Value) -> io::Result<()> {
    let body = serde_json::to_vec(message).map_err(io::Error::other)?;
    write!(output, "Content-Length: {}\r\n\r\n", body.len())?;
    output.write_all(&body)?;
    output.flush()
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> io::Result<Incoming> {
        read_message(&mut io::BufReader::new(bytes))
    }

    #[test]
    fn reads_a_framed_message_and_reports_broken_frames() {
        let Incoming::Message(v) = read(b"Content-Length: 13\r\n\r\n{\"seq\":1}    ").unwrap()
        else {
            panic!("a message");
        };
        assert_eq!(v["seq"], 1);
        assert!(matches!(read(b"").unwrap(), Incoming::Closed));
        let e = read(b"Content-Length: x\r\n\r\n").unwrap_err();
        assert_eq!(e.to_string(), "bad Content-Length \"x\"");
        let e = read(b"Content-Type: json\r\n\r\n{}").unwrap_err();
        assert_eq!(e.to_string(), "a message header without Content-Length");
        assert!(matches!(
            read(b"Content-Length: 3\r\n\r\n{x}").unwrap(),
            Incoming::NotJson(m) if m.starts_with("the message is not JSON")
        ));
    }

    #[test]
    fn writes_content_length_in_bytes() {
        let mut out = Vec::new();
        write_message(&mut out, &serde_json::json!({"s": "é"})).unwrap();
        assert_eq!(
            out,
            b"Content-Length: 10\r\n\r\n{\"s\":\"\xc3\xa9\"}".to_vec()
        );
    }
}
