//! Answers DAP requests from a [`Session`]. Every answer is a response to its request; a
//! request that cannot be served gets an error response naming why, never a crash.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use pyttd_format::{EventKind, ValueRole};
use pyttd_query::{Direction, Local};
use serde_json::{Value, json};

use super::launch::{self, Program};
use super::transport::{Incoming, read_message, write_message};
use crate::session::expr::{Expr, Value as ExprValue};
use crate::session::{
    Breakpoint, Condition, DataBreakpoint, ExceptionFilters, FrameScope, FunctionSpec,
    HitCondition, LineSpec, Motion, Session, Stop, exception_at,
};

/// What a `variablesReference` points at (valid until the position changes).
#[derive(Debug, Clone, Copy)]
enum Variables {
    /// The locals of a frame.
    Locals { call_id: u64 },
    /// The return value (or yielded value, or exception) of the event at the position.
    EventValues,
    /// The recorded children of a value.
    Children { seq: u64, object_id: u64 },
}

/// A request's failure: the response's message.
type Failure = String;
type Reply = Result<Value, Failure>;

/// The adapter's state: the session once a trace is open, and the handles handed out for the
/// current position.
#[derive(Debug)]
pub struct Adapter<W: Write> {
    out: W,
    seq: i64,
    python: Option<PathBuf>,
    session: Option<Session>,
    stop_on_entry: bool,
    /// A temporary directory holding a trace recorded by `launch`, removed at the end.
    scratch: Option<PathBuf>,
    frames: Vec<(u64, u64)>,
    variables: Vec<Variables>,
    done: bool,
}

/// Serves one client until it disconnects or closes the stream.
pub fn serve(
    input: &mut impl BufRead,
    out: impl Write,
    python: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut adapter = Adapter::new(out, python);
    let result = adapter.run(input);
    adapter.cleanup();
    result
}

impl<W: Write> Adapter<W> {
    pub fn new(out: W, python: Option<PathBuf>) -> Self {
        Adapter {
            out,
            seq: 0,
            python,
            session: None,
            stop_on_entry: false,
            scratch: None,
            frames: Vec::new(),
            variables: Vec::new(),
            done: false,
        }
    }

    fn run(&mut self, input: &mut impl BufRead) -> anyhow::Result<()> {
        while !self.done {
            match read_message(input).context("reading a DAP message")? {
                Incoming::Closed => break,
                Incoming::NotJson(why) => {
                    self.event("output", json!({"category": "important", "output": format!("pyttd: ignored a message: {why}\n")}))?;
                }
                Incoming::Message(message) => self.dispatch(&message)?,
            }
        }
        Ok(())
    }

    fn cleanup(&mut self) {
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn send(&mut self, mut message: Value) -> anyhow::Result<()> {
        self.seq += 1;
        message["seq"] = json!(self.seq);
        write_message(&mut self.out, &message).context("writing a DAP message")
    }

    fn event(&mut self, event: &str, body: Value) -> anyhow::Result<()> {
        self.send(json!({"type": "event", "event": event, "body": body}))
    }

    fn dispatch(&mut self, message: &Value) -> anyhow::Result<()> {
        let request_seq = message
            .get("seq")
            .and_then(Value::as_i64)
            .filter(|s| *s > 0);
        let command = message.get("command").and_then(Value::as_str);
        let (Some(request_seq), Some(command), Some("request")) = (
            request_seq,
            command,
            message.get("type").and_then(Value::as_str),
        ) else {
            let why = "pyttd: ignored a message that is not a request with a positive `seq` and a `command`\n";
            return self.event("output", json!({"category": "important", "output": why}));
        };
        let empty = json!({});
        let args = match message.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(a) if a.is_object() => a,
            Some(_) => {
                return self.respond(
                    request_seq,
                    command,
                    Err(format!("{command}: `arguments` must be an object")),
                );
            }
        };
        // A bug must cost the client one request, never the session.
        let reply =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(command, args)))
                .unwrap_or_else(|_| {
                    Err(format!(
                        "{command}: internal error (a bug in pyttd; please report it)"
                    ))
                });
        let stop = match &reply {
            Ok(Answer { stop, .. }) => stop.clone(),
            Err(_) => None,
        };
        let initialized = matches!(&reply, Ok(a) if a.initialized);
        self.respond(request_seq, command, reply.map(|a| a.body))?;
        if initialized {
            self.event("initialized", json!({}))?;
        }
        if let Some(stop) = stop {
            self.report_stop(&stop)?;
        }
        if matches!(command, "disconnect" | "terminate") {
            if command == "terminate" {
                self.event("terminated", json!({}))?;
            }
            self.done = true;
        }
        Ok(())
    }

    fn respond(&mut self, request_seq: i64, command: &str, reply: Reply) -> anyhow::Result<()> {
        let message = match reply {
            Ok(body) => {
                json!({"type": "response", "request_seq": request_seq, "success": true, "command": command, "body": body})
            }
            Err(why) => {
                json!({"type": "response", "request_seq": request_seq, "success": false, "command": command, "message": why, "body": {}})
            }
        };
        self.send(message)
    }

    /// Output passed, log points, condition errors, then `stopped` and `pyttd/position`.
    fn report_stop(&mut self, stop: &Stop) -> anyhow::Result<()> {
        self.frames.clear();
        self.variables.clear();
        for o in &stop.output {
            let category = if o.stderr { "stderr" } else { "stdout" };
            self.event("output", json!({"category": category, "output": o.text}))?;
        }
        for log in &stop.logs {
            self.event(
                "output",
                json!({"category": "console", "output": format!("{log}\n")}),
            )?;
        }
        let mut errors = stop.errors.clone();
        errors.dedup();
        for e in errors {
            self.event(
                "output",
                json!({"category": "important", "output": format!("{e}\n")}),
            )?;
        }
        let mut body = json!({
            "reason": stop.reason.as_str(),
            "threadId": dap_thread(stop.event.thread_id),
            "allThreadsStopped": true,
        });
        if let Some(d) = stop.reason.description() {
            body["description"] = json!(d);
        }
        if !stop.breakpoints.is_empty() {
            body["hitBreakpointIds"] = json!(stop.breakpoints);
        }
        if stop.reason == crate::session::StopReason::Exception
            && let Some(session) = &self.session
            && let Ok(Some((type_name, _))) = exception_at(session.reader(), stop.event.seq)
        {
            body["text"] = json!(type_name);
        }
        self.event("stopped", body)?;
        let e = &stop.event;
        let file = self
            .session
            .as_ref()
            .and_then(|s| {
                s.index()
                    .code()
                    .name_of(e.code_id)
                    .map(|(_, f)| f.to_string())
            })
            .unwrap_or_default();
        self.event(
            "pyttd/position",
            json!({"seq": e.seq, "threadId": dap_thread(e.thread_id), "file": file, "line": e.line, "callId": e.call_id, "kind": e.kind.as_str()}),
        )
    }

    fn session(&self) -> Result<&Session, Failure> {
        self.session
            .as_ref()
            .ok_or_else(|| "no trace is open: send `launch` or `attach` first".to_string())
    }

    fn session_mut(&mut self) -> Result<&mut Session, Failure> {
        self.session
            .as_mut()
            .ok_or_else(|| "no trace is open: send `launch` or `attach` first".to_string())
    }

    fn handle(&mut self, command: &str, args: &Value) -> Result<Answer, Failure> {
        let plain = |r: Reply| r.map(Answer::body);
        match command {
            "initialize" => plain(Ok(capabilities())),
            "launch" | "attach" => self.open(command, args),
            "configurationDone" => {
                let on_entry = self.stop_on_entry;
                let stop = self.session_mut()?.start(on_entry).map_err(text)?;
                Ok(Answer::stop(stop))
            }
            "setBreakpoints" => plain(self.set_breakpoints(args)),
            "setFunctionBreakpoints" => plain(self.set_function_breakpoints(args)),
            "setExceptionBreakpoints" => plain(self.set_exception_breakpoints(args)),
            "dataBreakpointInfo" => plain(self.data_breakpoint_info(args)),
            "setDataBreakpoints" => plain(self.set_data_breakpoints(args)),
            "threads" => plain(self.threads()),
            "stackTrace" => plain(self.stack_trace(args)),
            "scopes" => plain(self.scopes(args)),
            "variables" => plain(self.variables(args)),
            "evaluate" => plain(self.evaluate(args)),
            "exceptionInfo" => plain(self.exception_info()),
            "continue" => self.motion(
                |s| s.resume(Direction::Forward),
                json!({"allThreadsContinued": true}),
            ),
            "reverseContinue" => self.motion(|s| s.resume(Direction::Backward), json!({})),
            "next" | "stepIn" | "stepOut" | "stepBack" => {
                let instruction =
                    args.get("granularity").and_then(Value::as_str) == Some("instruction");
                let (motion, direction) = match command {
                    "next" => (Motion::Over, Direction::Forward),
                    "stepIn" => (Motion::In, Direction::Forward),
                    "stepOut" => (Motion::Out, Direction::Forward),
                    _ => (Motion::In, Direction::Backward),
                };
                self.motion(|s| s.step(motion, direction, instruction), json!({}))
            }
            "pyttd/reverseStep" => {
                let motion = match args.get("kind").and_then(Value::as_str) {
                    Some("in") | None => Motion::In,
                    Some("over") => Motion::Over,
                    Some("out") => Motion::Out,
                    Some(k) => {
                        return Err(format!(
                            "pyttd/reverseStep: unknown `kind` {k:?} (in, over or out)"
                        ));
                    }
                };
                self.motion(|s| s.step(motion, Direction::Backward, false), json!({}))
            }
            "gotoTargets" => plain(self.goto_targets(args)),
            "goto" => {
                let seq = int(args, command, "targetId")?;
                self.motion(|s| s.goto(seq), json!({}))
            }
            "pyttd/goto" => {
                let seq = int(args, command, "seq")?;
                self.motion(|s| s.goto(seq), json!({}))
            }
            "restartFrame" => {
                let (call_id, _) = self.frame(args, command)?;
                self.motion(|s| s.restart_frame(call_id), json!({}))
            }
            "pause" => plain(Ok(json!({}))),
            "disconnect" | "terminate" => plain(Ok(json!({}))),
            "pyttd/timeline" => plain(self.timeline(args)),
            "pyttd/stats" => plain(self.stats()),
            "pyttd/callChildren" => plain(self.call_children(args)),
            "pyttd/variableHistory" => plain(self.variable_history(args)),
            "pyttd/sql" => plain(self.sql(args)),
            "setVariable" | "setExpression" => Err(format!(
                "{command}: pyttd replays a recording; values of the past cannot be changed"
            )),
            _ => Err(format!("unsupported request `{command}`")),
        }
    }

    fn motion(
        &mut self,
        go: impl FnOnce(&mut Session) -> crate::session::Result<Stop>,
        body: Value,
    ) -> Result<Answer, Failure> {
        let stop = go(self.session_mut()?).map_err(text)?;
        Ok(Answer {
            body,
            stop: Some(stop),
            initialized: false,
        })
    }

    fn open(&mut self, command: &str, args: &Value) -> Result<Answer, Failure> {
        self.stop_on_entry = args
            .get("stopOnEntry")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let trace = match (
            string(args, command, "trace")?,
            string(args, command, "program")?,
            string(args, command, "module")?,
        ) {
            (Some(trace), _, _) => PathBuf::from(trace),
            (None, program, module)
                if command == "launch" && (program.is_some() || module.is_some()) =>
            {
                self.record(args, program, module)?
            }
            _ => {
                return Err(format!(
                    "{command}: give `trace` (a recorded .pyttd file){}",
                    if command == "launch" {
                        ", `program` or `module`"
                    } else {
                        ""
                    }
                ));
            }
        };
        let session = Session::open(&trace).map_err(|e| format!("{command}: {e}"))?;
        self.session = Some(session);
        Ok(Answer {
            body: json!({}),
            stop: None,
            initialized: true,
        })
    }

    fn record(
        &mut self,
        args: &Value,
        program: Option<String>,
        module: Option<String>,
    ) -> Result<PathBuf, Failure> {
        let python = match string(args, "launch", "python")? {
            Some(p) => PathBuf::from(p),
            None => self
                .python
                .clone()
                .ok_or("launch: give `python` (the interpreter that records the program)")?,
        };
        let list = |key: &str| -> Result<Vec<String>, Failure> {
            match args.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .ok_or(format!("launch: `{key}` must be a list of strings"))
                    })
                    .collect(),
                Some(_) => Err(format!("launch: `{key}` must be a list of strings")),
            }
        };
        let env = match args.get("env") {
            None | Some(Value::Null) => HashMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_string()))
                        .ok_or(format!("launch: `env.{k}` must be a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("launch: `env` must be an object of strings".into()),
        };
        let (target, is_module) = match (program, module) {
            (_, Some(m)) => (m, true),
            (Some(p), None) => (p, false),
            (None, None) => unreachable!("checked by the caller"),
        };
        let program = Program {
            target,
            module: is_module,
            args: list("args")?,
            cwd: string(args, "launch", "cwd")?.map(PathBuf::from),
            env,
        };
        // A fresh private directory per launch: never a previous recording's trace.
        let dir = tempfile::Builder::new()
            .prefix("pyttd-dap-")
            .tempdir()
            .map_err(|e| format!("launch: cannot create a temporary directory: {e}"))?;
        let dir = dir.keep();
        self.cleanup();
        self.scratch = Some(dir.clone());
        let stem = std::path::Path::new(&program.target)
            .file_stem()
            .map_or("program".into(), |s| s.to_string_lossy().into_owned());
        let trace = dir.join(format!("{stem}.pyttd"));
        launch::record(&python, &program, &trace).map_err(|e| format!("launch: {e}"))?;
        Ok(trace)
    }

    fn set_breakpoints(&mut self, args: &Value) -> Reply {
        let c = "setBreakpoints";
        let source = args
            .get("source")
            .filter(|s| s.is_object())
            .ok_or(format!("{c}: `source` is required"))?;
        let path = string(source, c, "path")?.ok_or(format!("{c}: `source.path` is required"))?;
        let file = trace_path(&path);
        let mut specs = Vec::new();
        for bp in array(args, c, "breakpoints")? {
            let line = line_arg(bp, c)?;
            let (condition, hit, invalid) = conditions(bp, c)?;
            let log = string(bp, c, "logMessage")?;
            specs.push(LineSpec {
                line,
                condition,
                hit,
                log,
                invalid,
            });
        }
        let set = self.session_mut()?.set_line_breakpoints(&file, specs);
        let list: Vec<Value> = set
            .iter()
            .map(|bp| breakpoint_json(bp, Some(&path)))
            .collect();
        Ok(json!({"breakpoints": list}))
    }

    fn set_function_breakpoints(&mut self, args: &Value) -> Reply {
        let c = "setFunctionBreakpoints";
        let mut specs = Vec::new();
        for bp in array(args, c, "breakpoints")? {
            let name = string(bp, c, "name")?.ok_or(format!("{c}: `name` is required"))?;
            let (condition, hit, invalid) = conditions(bp, c)?;
            specs.push(FunctionSpec {
                name,
                condition,
                hit,
                invalid,
            });
        }
        let set = self.session_mut()?.set_function_breakpoints(specs);
        let list: Vec<Value> = set.iter().map(|bp| breakpoint_json(bp, None)).collect();
        Ok(json!({"breakpoints": list}))
    }

    fn set_exception_breakpoints(&mut self, args: &Value) -> Reply {
        let c = "setExceptionBreakpoints";
        let mut filters = ExceptionFilters::default();
        for f in array(args, c, "filters")? {
            match f.as_str() {
                Some("raised") => filters.raised = true,
                Some("uncaught") => filters.uncaught = true,
                other => {
                    return Err(format!(
                        "{c}: unknown filter {other:?} (raised or uncaught)"
                    ));
                }
            }
        }
        self.session_mut()?.set_exception_filters(filters);
        let verified: Vec<Value> = [filters.raised, filters.uncaught]
            .iter()
            .filter(|b| **b)
            .map(|_| json!({"verified": true}))
            .collect();
        Ok(json!({"breakpoints": verified}))
    }

    fn data_breakpoint_info(&mut self, args: &Value) -> Reply {
        let c = "dataBreakpointInfo";
        let name = string(args, c, "name")?.ok_or(format!("{c}: `name` is required"))?;
        let reference = args.get("variablesReference").and_then(Value::as_i64);
        let call_id = match reference.map(|r| self.variable_source(r)) {
            Some(Ok(Variables::Locals { call_id })) => Some(call_id),
            Some(Ok(_)) => None,
            Some(Err(e)) => return Err(e),
            None => match args.get("frameId").and_then(Value::as_i64) {
                Some(_) => Some(self.frame(args, c)?.0),
                None => Some(self.session()?.event().map_err(text)?.call_id),
            },
        };
        let call_id = match call_id {
            Some(c)
                if self
                    .session()?
                    .locals(c)
                    .map_err(text)?
                    .iter()
                    .any(|l| l.name == name) =>
            {
                Some(c)
            }
            _ => None,
        };
        Ok(match call_id {
            Some(call_id) => json!({
                "dataId": DataBreakpoint::data_id(call_id, &name),
                "description": format!("`{name}` changes (in this call)"),
                "accessTypes": ["write"],
                "canPersist": false,
            }),
            None => {
                json!({"dataId": null, "description": format!("`{name}` is not a local variable of this frame at this step")})
            }
        })
    }

    fn set_data_breakpoints(&mut self, args: &Value) -> Reply {
        let c = "setDataBreakpoints";
        let mut ids = Vec::new();
        for bp in array(args, c, "breakpoints")? {
            ids.push(string(bp, c, "dataId")?.ok_or(format!("{c}: `dataId` is required"))?);
        }
        let set = self.session_mut()?.set_data_breakpoints(&ids);
        let list: Vec<Value> = set
            .into_iter()
            .map(|r| match r {
                Ok(id) => json!({"id": id, "verified": true}),
                Err(message) => json!({"verified": false, "message": message}),
            })
            .collect();
        Ok(json!({"breakpoints": list}))
    }

    fn threads(&self) -> Reply {
        let threads: Vec<Value> = self
            .session()?
            .threads()
            .iter()
            .map(|t| json!({"id": dap_thread(t.thread_id), "name": t.name}))
            .collect();
        Ok(json!({"threads": threads}))
    }

    fn stack_trace(&mut self, args: &Value) -> Reply {
        let c = "stackTrace";
        let thread = int(args, c, "threadId")?;
        let start = opt_int(args, c, "startFrame")?.unwrap_or(0) as usize;
        let levels = opt_int(args, c, "levels")?
            .filter(|l| *l > 0)
            .map_or(usize::MAX, |l| l as usize);
        let session = self.session()?;
        let Some(thread_id) = thread
            .checked_sub(1)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| session.threads().iter().any(|i| i.thread_id == *t))
        else {
            return Err(format!("{c}: no thread {thread} in this recording"));
        };
        let Some(event) = session.thread_event(thread_id).map_err(text)? else {
            return Ok(json!({"stackFrames": [], "totalFrames": 0}));
        };
        let mut frames = session.stack_at(&event).map_err(text)?;
        // Another thread's latest event may be its frame leaving: show where its caller is.
        let left = matches!(
            event.kind,
            EventKind::Return | EventKind::Unwind | EventKind::Yield
        );
        if left && event.seq != session.position() {
            frames.remove(0);
        }
        let total = frames.len();
        let mut out = Vec::new();
        for f in frames.into_iter().skip(start).take(levels) {
            self.frames.push((f.frame.call_id, f.frame.seq));
            let name = std::path::Path::new(&f.file)
                .file_name()
                .map_or(f.file.clone(), |n| n.to_string_lossy().into_owned());
            out.push(json!({
                "id": self.frames.len(),
                "name": f.function,
                "source": {"name": name, "path": f.file},
                "line": f.frame.line,
                "column": 1,
            }));
        }
        Ok(json!({"stackFrames": out, "totalFrames": total}))
    }

    /// The `(call_id, seq)` of the frame a request's `frameId` names.
    fn frame(&self, args: &Value, command: &str) -> Result<(u64, u64), Failure> {
        let id = int(args, command, "frameId")?;
        id.checked_sub(1)
            .and_then(|i| self.frames.get(i as usize))
            .copied()
            .ok_or(format!("{command}: no frame {id} at this step (frames are valid until the position changes)"))
    }

    fn handle_for(&mut self, v: Variables) -> usize {
        self.variables.push(v);
        self.variables.len()
    }

    fn variable_source(&self, reference: i64) -> Result<Variables, Failure> {
        reference
            .checked_sub(1)
            .and_then(|i| self.variables.get(i as usize))
            .copied()
            .ok_or(format!("no variables {reference} at this step (references are valid until the position changes)"))
    }

    fn scopes(&mut self, args: &Value) -> Reply {
        let (call_id, seq) = self.frame(args, "scopes")?;
        let session = self.session()?;
        let event = session.event().map_err(text)?;
        let top = seq == event.seq;
        let values = match top {
            true => session.event_values().map_err(text)?,
            false => Vec::new(),
        };
        let locals = self.handle_for(Variables::Locals { call_id });
        let mut scopes = vec![
            json!({"name": "Locals", "presentationHint": "locals", "variablesReference": locals, "expensive": false}),
        ];
        if !values.is_empty() {
            let name = match event.kind {
                EventKind::Yield => "Yielded value",
                EventKind::Exception => "Exception",
                _ => "Return value",
            };
            let r = self.handle_for(Variables::EventValues);
            scopes.push(json!({"name": name, "presentationHint": "returnValue", "variablesReference": r, "expensive": false}));
        }
        Ok(json!({"scopes": scopes}))
    }

    fn variables(&mut self, args: &Value) -> Reply {
        let reference = int(args, "variables", "variablesReference")? as i64;
        let source = self.variable_source(reference)?;
        let session = self.session()?;
        let values: Vec<Local> = match source {
            Variables::Locals { call_id } => session.locals(call_id).map_err(text)?,
            Variables::EventValues => session
                .event_values()
                .map_err(text)?
                .into_iter()
                .map(|(role, mut l)| {
                    l.name = match role {
                        ValueRole::Exception => "(exception)".into(),
                        _ => "(return value)".into(),
                    };
                    l
                })
                .collect(),
            Variables::Children { seq, object_id } => {
                session.children(seq, object_id).map_err(text)?
            }
        };
        let mut out = Vec::with_capacity(values.len());
        for l in values {
            let reference = match l.object_id {
                Some(object_id) => self.handle_for(Variables::Children {
                    seq: l.seq,
                    object_id,
                }),
                None => 0,
            };
            out.push(json!({"name": l.name, "value": l.value(), "type": l.type_name, "variablesReference": reference}));
        }
        Ok(json!({"variables": out}))
    }

    fn evaluate(&mut self, args: &Value) -> Reply {
        let c = "evaluate";
        let source =
            string(args, c, "expression")?.ok_or(format!("{c}: `expression` is required"))?;
        let call_id = match args.get("frameId").and_then(Value::as_i64) {
            Some(_) => self.frame(args, c)?.0,
            None => self.session()?.event().map_err(text)?.call_id,
        };
        let session = self.session()?;
        let expr = Expr::parse(&source).map_err(|e| e.to_string())?;
        let scope = FrameScope::at(session.reader(), session.position(), call_id).map_err(text)?;
        let value = expr.eval(&scope).map_err(|e| e.to_string())?;
        let child = match &value {
            ExprValue::Object {
                object_id: Some(o), ..
            } => scope.recorded_at(*o).map(|seq| (seq, *o)),
            _ => None,
        };
        let reference = match child {
            Some((seq, object_id)) => self.handle_for(Variables::Children { seq, object_id }),
            None => 0,
        };
        Ok(
            json!({"result": value.repr(), "type": value.type_name(), "variablesReference": reference}),
        )
    }

    fn exception_info(&self) -> Reply {
        let session = self.session()?;
        let event = session.event().map_err(text)?;
        let (type_name, message) = exception_at(session.reader(), event.seq)
            .map_err(text)?
            .ok_or("exceptionInfo: no exception at this step")?;
        // The mode that stopped here: `always` under the `raised` filter, else `unhandled` for
        // an exception that ends its thread.
        let mode = match session.exception_filters().raised
            || !session.exception_is_uncaught(&event).map_err(text)?
        {
            true => "always",
            false => "unhandled",
        };
        Ok(json!({
            "exceptionId": type_name,
            "description": message.unwrap_or_default(),
            "breakMode": mode,
        }))
    }

    fn goto_targets(&self, args: &Value) -> Reply {
        let c = "gotoTargets";
        let source = args
            .get("source")
            .filter(|s| s.is_object())
            .ok_or(format!("{c}: `source` is required"))?;
        let path = string(source, c, "path")?.ok_or(format!("{c}: `source.path` is required"))?;
        let line = line_arg(args, c)?;
        let session = self.session()?;
        let seqs = session
            .goto_targets(&trace_path(&path), line)
            .map_err(text)?;
        let targets: Vec<Value> = seqs
            .iter()
            .enumerate()
            .map(|(n, seq)| json!({"id": seq, "label": format!("line {line}, execution {} (step {seq})", n + 1), "line": line}))
            .collect();
        Ok(json!({"targets": targets}))
    }

    fn timeline(&self, args: &Value) -> Reply {
        let session = self.session()?;
        let (_, last) = session.bounds();
        let c = "pyttd/timeline";
        let buckets = opt_int(args, c, "buckets")?.unwrap_or(100).clamp(1, 10_000) as u32;
        let first = opt_int(args, c, "firstSeq")?.unwrap_or(0);
        let last = opt_int(args, c, "lastSeq")?.unwrap_or(last).min(last);
        let bps = session.line_breakpoint_targets();
        let rows = session
            .index()
            .timeline(first, last, buckets, &bps)
            .map_err(text)?;
        let out: Vec<Value> = rows
            .iter()
            .map(|b| json!({"index": b.index, "firstSeq": b.first_seq, "lastSeq": b.last_seq, "events": b.events, "maxDepth": b.max_depth, "exceptions": b.exceptions, "breakpointHits": b.breakpoint_hits}))
            .collect();
        Ok(json!({"buckets": out}))
    }

    fn stats(&self) -> Reply {
        let session = self.session()?;
        let rows = pyttd_query::function_stats_direct(session.reader()).map_err(text)?;
        let out: Vec<Value> = rows
            .iter()
            .map(|f| json!({"function": f.function, "file": f.file, "calls": f.calls, "exceptions": f.exceptions, "totalNs": f.total_ns, "selfNs": f.self_ns, "firstCallSeq": f.first_call_seq}))
            .collect();
        Ok(json!({"functions": out}))
    }

    fn call_children(&self, args: &Value) -> Reply {
        let call_id = int(args, "pyttd/callChildren", "callId")?;
        let session = self.session()?;
        let children = session
            .sql()
            .map_err(text)?
            .call_children(call_id)
            .map_err(text)?;
        let mut out = Vec::new();
        for (child, seq) in children {
            let event = session.event_at(seq).map_err(text)?;
            let function = session
                .index()
                .code()
                .name_of(event.code_id)
                .map(|(f, _)| f.to_string())
                .unwrap_or_default();
            out.push(json!({"callId": child, "seq": seq, "function": function}));
        }
        Ok(json!({"calls": out}))
    }

    fn variable_history(&self, args: &Value) -> Reply {
        let c = "pyttd/variableHistory";
        let name = string(args, c, "name")?.ok_or(format!("{c}: `name` is required"))?;
        let everywhere = args
            .get("everywhere")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let session = self.session()?;
        let call_id = match (everywhere, args.get("frameId").and_then(Value::as_i64)) {
            (true, _) => None,
            (false, Some(_)) => Some(self.frame(args, c)?.0),
            (false, None) => Some(session.event().map_err(text)?.call_id),
        };
        let rows = session.variable_history(&name, call_id).map_err(text)?;
        let out: Vec<Value> = rows
            .iter()
            .map(|h| json!({"seq": h.seq, "callId": h.call_id, "line": h.line, "value": h.value.value(), "type": h.value.type_name, "deleted": h.value.tag == pyttd_format::ValueTag::Deleted.code()}))
            .collect();
        Ok(json!({"values": out}))
    }

    fn sql(&self, args: &Value) -> Reply {
        let c = "pyttd/sql";
        let query = string(args, c, "query")?.ok_or(format!("{c}: `query` is required"))?;
        let session = self.session()?;
        let (schema, batches) = session.sql().map_err(text)?.sql(&query).map_err(text)?;
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        // Arrow's JSON writer renders each value; rows become arrays in column order.
        let mut lines = Vec::new();
        pyttd_query::write_text(&schema, &batches, pyttd_query::Format::Json, &mut lines)
            .map_err(text)?;
        let mut rows = Vec::new();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let object: serde_json::Map<String, Value> =
                serde_json::from_slice(line).map_err(text)?;
            rows.push(
                columns
                    .iter()
                    .map(|c| object.get(*c).cloned().unwrap_or(Value::Null))
                    .collect::<Vec<_>>(),
            );
        }
        Ok(json!({"columns": columns, "rows": rows}))
    }
}

/// A handled request: its response body, the stop it caused, and whether the `initialized`
/// event follows.
#[derive(Debug)]
struct Answer {
    body: Value,
    stop: Option<Stop>,
    initialized: bool,
}

impl Answer {
    fn body(body: Value) -> Answer {
        Answer {
            body,
            stop: None,
            initialized: false,
        }
    }

    fn stop(stop: Stop) -> Answer {
        Answer {
            body: json!({}),
            stop: Some(stop),
            initialized: false,
        }
    }
}

fn capabilities() -> Value {
    json!({
        "supportsConfigurationDoneRequest": true,
        "supportsStepBack": true,
        "supportsGotoTargetsRequest": true,
        "supportsRestartFrame": true,
        "supportsConditionalBreakpoints": true,
        "supportsHitConditionalBreakpoints": true,
        "supportsFunctionBreakpoints": true,
        "supportsDataBreakpoints": true,
        "supportsLogPoints": true,
        "supportsEvaluateForHovers": true,
        "supportsExceptionInfoRequest": true,
        "supportsSteppingGranularity": true,
        "supportsTerminateRequest": true,
        "supportsSetVariable": false,
        "supportsDelayedStackTraceLoading": true,
        "exceptionBreakpointFilters": [
            {"filter": "raised", "label": "Raised Exceptions", "description": "Stop where any exception is raised", "default": false},
            {"filter": "uncaught", "label": "Uncaught Exceptions", "description": "Stop where an exception that ends its thread is raised", "default": true},
        ],
    })
}

fn breakpoint_json(bp: &Breakpoint, path: Option<&str>) -> Value {
    let mut v = json!({"id": bp.id, "verified": bp.unverified.is_none()});
    if let crate::session::Target::Line { line, .. } = &bp.target {
        v["line"] = json!(line);
    }
    if let Some(path) = path {
        v["source"] = json!({"path": path});
    }
    if let Some(why) = &bp.unverified {
        v["message"] = json!(why);
    }
    v
}

/// A breakpoint's `condition` and `hitCondition`; one that does not parse makes the breakpoint
/// unverified (with the reason) instead of failing the whole request.
type Conditions = (Option<Condition>, Option<HitCondition>, Option<String>);

fn conditions(bp: &Value, command: &str) -> Result<Conditions, Failure> {
    let condition = string(bp, command, "condition")?.filter(|s| !s.trim().is_empty());
    let hit = string(bp, command, "hitCondition")?.filter(|s| !s.trim().is_empty());
    let condition = condition.map(|s| Condition::parse(&s)).transpose();
    let hit = hit.map(|h| HitCondition::parse(&h)).transpose();
    Ok(match (condition, hit) {
        (Ok(c), Ok(h)) => (c, h, None),
        (Err(e), _) => (None, None, Some(format!("condition: {e}"))),
        (_, Err(e)) => (None, None, Some(e)),
    })
}

/// A `line` argument.
fn line_arg(args: &Value, command: &str) -> Result<u32, Failure> {
    u32::try_from(int(args, command, "line")?)
        .map_err(|_| format!("{command}: `line` is too large"))
}

/// A client's source path as the trace stores files: resolved (symlinks, `..`) when it exists.
fn trace_path(path: &str) -> String {
    std::fs::canonicalize(path)
        .map_or_else(|_| path.to_string(), |p| p.to_string_lossy().into_owned())
}

/// DAP thread ids start at 1 (some clients read 0 as "no thread").
fn dap_thread(thread_id: u32) -> u64 {
    u64::from(thread_id) + 1
}

fn text(e: impl std::fmt::Display) -> Failure {
    e.to_string()
}

/// A required non-negative integer argument.
fn int(args: &Value, command: &str, key: &str) -> Result<u64, Failure> {
    match args.get(key) {
        Some(v) => v
            .as_u64()
            .ok_or(format!("{command}: `{key}` must be a non-negative integer")),
        None => Err(format!("{command}: `{key}` is required")),
    }
}

/// An optional non-negative integer argument.
fn opt_int(args: &Value, command: &str, key: &str) -> Result<Option<u64>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => int(args, command, key).map(Some),
    }
}

/// An optional string argument.
fn string(args: &Value, command: &str, key: &str) -> Result<Option<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{command}: `{key}` must be a string")),
    }
}

/// An optional array argument (empty when absent).
fn array<'a>(args: &'a Value, command: &str, key: &str) -> Result<&'a [Value], Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{command}: `{key}` must be an array")),
    }
}
