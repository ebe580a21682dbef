//! Reading cfssl's JSON inputs the way Go's `encoding/json` does (object keys
//! match case-insensitively), but with errors that name the field, and with
//! unknown fields refused: a typo such as `"host"` must not silently drop SANs.

use serde_json::{Map, Value};

/// A field that is missing, mistyped, unknown or out of range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// A JSON path such as `names[0].C` or `signing.profiles.kubernetes.usages[2]`.
    pub field: String,
    /// What is wrong, one clause.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// Parses JSON text; a syntax error names the line and column.
pub fn parse(text: &[u8]) -> Result<Value, FieldError> {
    serde_json::from_slice(text).map_err(|e| {
        FieldError::new(
            format!("line {} column {}", e.line(), e.column()),
            format!("invalid JSON ({})", strip_position(&e.to_string())),
        )
    })
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// An object whose fields are looked up case-insensitively, each at most once.
pub struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    /// Views `value` at `path` as an object.
    pub fn new(path: &str, value: &'a Value) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Obj { path: path.to_string(), map }),
            other => Err(FieldError::new(display_path(path), format!("must be an object, not {}", kind(other)))),
        }
    }

    /// Refuses fields outside `known` (compared case-insensitively).
    pub fn only(&self, known: &[&str]) -> Result<(), FieldError> {
        for key in self.map.keys() {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                return Err(FieldError::new(
                    self.child(key),
                    format!("unknown field (known fields here: {})", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// The value of `name`, if present and not null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .or_else(|| self.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// The path of a child field, for messages.
    pub fn child(&self, name: &str) -> String {
        let name = shown(name);
        if self.path.is_empty() {
            name
        } else {
            format!("{}.{}", self.path, name)
        }
    }

    /// A string member, if present.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(FieldError::new(self.child(name), format!("must be a string, not {}", kind(other)))),
        }
    }

    /// A boolean member, if present.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(FieldError::new(self.child(name), format!("must be true or false, not {}", kind(other)))),
        }
    }

    /// A non-negative integer member, if present.
    pub fn uint(&self, name: &str) -> Result<Option<u64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| FieldError::new(self.child(name), format!("must be a whole number ≥ 0, not {n}"))),
            Some(other) => Err(FieldError::new(self.child(name), format!("must be a number, not {}", kind(other)))),
        }
    }

    /// An array member, if present.
    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(FieldError::new(self.child(name), format!("must be a list, not {}", kind(other)))),
        }
    }

    /// A list of strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<&'a str>>, FieldError> {
        let Some(items) = self.array(name)? else { return Ok(None) };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(FieldError::new(
                    format!("{}[{i}]", self.child(name)),
                    format!("must be a string, not {}", kind(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An object member, if present.
    pub fn object(&self, name: &str) -> Result<Option<Obj<'a>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => Obj::new(&self.child(name), v).map(Some),
        }
    }

    /// The entries of the object, for maps such as `profiles`.
    pub fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }
}

/// Text from the input as it may appear in a one-line message: control
/// characters escaped (a newline or a terminal escape sequence in a field
/// name must not break the line or drive the user's terminal) and at most
/// 80 characters.
pub fn shown(text: &str) -> String {
    shown_max(text, 80)
}

/// [`shown`] with another length limit (a certificate's name is longer).
pub fn shown_max(text: &str, max: usize) -> String {
    // Control characters, and others that do not print as themselves
    // (U+2028 line separator, U+202E right-to-left override, ...).
    let clean = !text.chars().any(|c| c.is_control() || (!matches!(c, '"' | '\'' | '\\') && c.escape_debug().next() == Some('\\')));
    let count = text.chars().count();
    match (clean, count <= max) {
        (true, true) => text.to_string(),
        (true, false) => format!("{}…", text.chars().take(max).collect::<String>()),
        (false, fits) => {
            let head: String = text.chars().take(max).collect();
            format!("{}{}", head.escape_debug(), if fits { "" } else { "…" })
        }
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() { "the document".to_string() } else { path.to_string() }
}

/// A word for a JSON value's type, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_from_the_input_stay_on_one_line() {
        // Found by the csr_json fuzz target: an unknown field named "alg…\n"
        // put a line break into the one-line error.
        let v = parse(b"{\"key\":{\"al\\ng\\u001b[31m\":1}}").unwrap();
        let top = Obj::new("", &v).unwrap();
        let key = top.object("key").unwrap().unwrap();
        let e = key.only(&["algo", "size"]).unwrap_err().to_string();
        assert_eq!(e, "key.al\\ng\\u{1b}[31m: unknown field (known fields here: algo, size)");
        assert_eq!(shown(&"x".repeat(100)), format!("{}…", "x".repeat(80)));
        assert_eq!(shown("kube-proxy"), "kube-proxy");
    }
}
