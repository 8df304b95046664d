//! Where a key path (`views[1].window`) is written in a YAML text: the 1-based line of its key
//! or item, for messages. A small scan of block mappings, block sequences and one-line flow
//! mappings (`- {name: a, type: b}`), which is how pipeline files are written; where it cannot
//! tell, it answers the line of the nearest ancestor it found.

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            out.push(Step::Key(name.to_string()));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// A line's indentation, and the column where its content starts after any `- ` markers.
fn shape(line: &str) -> (usize, &str, usize) {
    let indent = line.len() - line.trim_start().len();
    let mut content = line.trim_start();
    while let Some(rest) = content.strip_prefix("- ") {
        content = rest.trim_start();
    }
    (indent, content, line.len() - content.len())
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn is_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t == "-"
}

/// What follows `key:` at the start of `content`, if it starts so (plain or quoted key).
fn after_key<'a>(content: &'a str, key: &str) -> Option<&'a str> {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .find_map(|k| content.strip_prefix(k.as_str()))
        .and_then(|r| r.trim_start().strip_prefix(':'))
}

/// Whether `content` starts with `key:` or holds `key:` inside a one-line flow mapping.
fn has_key(content: &str, key: &str) -> bool {
    after_key(content, key).is_some()
        || content.find('{').is_some_and(|open| {
            content[open + 1..]
                .split([',', '{'])
                .any(|part| after_key(part.trim_start(), key).is_some())
        })
}

/// The 1-based line of `path` in `text` (the nearest ancestor found when the path itself is not).
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Option<usize> = None;
    // The lines the next step is looked for in.
    let (mut from, mut to) = (0, lines.len());
    for step in steps(path) {
        let hit = match &step {
            // The shallowest, then first, line with the key.
            Step::Key(k) => (from..to)
                .filter(|&i| !is_blank(lines[i]) && has_key(shape(lines[i]).1, k))
                .map(|i| (shape(lines[i]).2, i))
                .min()
                .map(|(_, i)| i),
            // The n-th item marker at the shallowest item indentation.
            Step::Index(n) => {
                let items: Vec<usize> = (from..to).filter(|&i| is_item(lines[i])).collect();
                let least = items.iter().map(|&i| indent(lines[i])).min();
                items
                    .into_iter()
                    .filter(|&i| Some(indent(lines[i])) == least)
                    .nth(*n)
            }
        };
        let Some(line) = hit else {
            break;
        };
        found = Some(line);
        let next_block = |stop: &dyn Fn(&str) -> bool| {
            (line + 1..lines.len())
                .find(|&i| !is_blank(lines[i]) && stop(lines[i]))
                .unwrap_or(lines.len())
        };
        (from, to) = match &step {
            Step::Index(_) => {
                let own = indent(lines[line]);
                (line, next_block(&|l| indent(l) <= own))
            }
            Step::Key(k) => {
                let (_, content, col) = shape(lines[line]);
                let inline = after_key(content, k)
                    .is_some_and(|v| !v.trim().is_empty() && !v.trim().starts_with('#'));
                if inline || after_key(content, k).is_none() {
                    (line, line + 1)
                } else {
                    let end = next_block(&|l| indent(l) < col || (indent(l) == col && !is_item(l)));
                    (line + 1, end)
                }
            }
        };
    }
    found.map(|l| l + 1)
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "\
event:
  fields:
    - {name: a, type: string}
    - name: b
      type: integer
  id: a
views:
  - name: v
    kind: latest
  - {name: w, kind: aggregate, window: 5x}
run:
  out: ./x
";

    #[test]
    fn finds_keys_items_and_flow_mappings() {
        assert_eq!(line_of(TEXT, "event"), Some(1));
        assert_eq!(line_of(TEXT, "event.fields[0]"), Some(3));
        assert_eq!(line_of(TEXT, "event.fields[0].type"), Some(3));
        assert_eq!(line_of(TEXT, "event.fields[1].type"), Some(5));
        assert_eq!(line_of(TEXT, "event.id"), Some(6));
        assert_eq!(line_of(TEXT, "views[0].kind"), Some(9));
        assert_eq!(line_of(TEXT, "views[1].window"), Some(10));
        assert_eq!(line_of(TEXT, "run.out"), Some(12));
        // Not there: the nearest ancestor.
        assert_eq!(line_of(TEXT, "views[1].nope"), Some(10));
        assert_eq!(line_of(TEXT, "nope"), None);
    }
}
