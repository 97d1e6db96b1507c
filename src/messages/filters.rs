//! The template environment: strict variables, HTML escaping only for `.html.j2`, and the
//! small filters the shipped templates use.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Only HTML escapes; escaping a text part or an SMS would show "&amp;" to the citizen.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("sentence", sentence);
    env.add_filter("tel", tel);
    env.add_filter("ltr", ltr);
    env.add_filter("url", url);
    env
}

/// Keeps a phone number in reading order inside Arabic or Persian text: without strong
/// left-to-right marks around it, "02921 30-0" is shown as "30-0 02921".
fn ltr(text: String) -> String {
    if text.is_empty() {
        return text;
    }
    format!("\u{200E}{text}\u{200E}")
}

/// A web address for an HTML attribute or text. The default escaping would write every `/` as
/// `&#x2f;`: valid, but it makes the address unreadable in the source and trips link checkers.
/// Escaping `&`, `<`, `>` and quotes is all an attribute in double or single quotes needs.
fn url(address: String) -> Value {
    let mut out = String::with_capacity(address.len());
    for c in address.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    Value::from_safe_string(out)
}

/// A phone number as written ("02921 / 30-0") reduced to what a `tel:` link may hold.
fn tel(number: String) -> String {
    number
        .trim()
        .chars()
        .enumerate()
        .filter(|&(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'))
        .map(|(_, c)| c)
        .collect()
}

/// Ends a text with a full stop unless it already ends with punctuation; empty stays empty.
fn sentence(text: String) -> String {
    let trimmed = text.trim_end();
    match trimmed.chars().last() {
        None => String::new(),
        Some('.' | '!' | '?' | '…' | '。' | '؟' | '۔') => trimmed.to_owned(),
        Some(_) => format!("{trimmed}."),
    }
}

/// Mail headers must not break: a newline in a value would let it add headers.
pub(super) fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn sentences_end_with_one_full_stop() {
        assert_eq!(sentence("IT-Störung".into()), "IT-Störung.");
        assert_eq!(sentence("IT-Störung. ".into()), "IT-Störung.");
        assert_eq!(sentence("Warum?".into()), "Warum?");
        assert_eq!(sentence("".into()), "");
    }

    #[test]
    fn phone_numbers_become_tel_digits() {
        assert_eq!(tel("02921 / 30-0".into()), "02921300");
        assert_eq!(tel(" +49 2921 30-0".into()), "+492921300");
    }

    #[test]
    fn left_to_right_marks_surround_a_value_but_not_an_empty_one() {
        assert_eq!(ltr("02921 30-0".into()), "\u{200E}02921 30-0\u{200E}");
        assert_eq!(ltr(String::new()), "");
    }

    #[test]
    fn web_addresses_keep_their_slashes_but_cannot_break_out_of_an_attribute() {
        let mut env = environment();
        env.add_template("a.html.j2", r#"<a href="{{ u|url }}">"#)
            .unwrap();
        let render = |u: &str| {
            let t = env.get_template("a.html.j2").unwrap();
            t.render(context! { u => u }).unwrap()
        };
        assert_eq!(
            render("https://termine.kreis-soest.de/neu?a=1&b=2"),
            r#"<a href="https://termine.kreis-soest.de/neu?a=1&amp;b=2">"#
        );
        assert_eq!(
            render(r#"https://x.de/"><script>'"#),
            r#"<a href="https://x.de/&quot;&gt;&lt;script&gt;&#x27;">"#
        );
    }

    #[test]
    fn header_values_lose_line_breaks_and_control_characters() {
        assert_eq!(
            one_line(" Termin\r\nBcc: x@example.org\u{0}\t "),
            "Termin Bcc: x@example.org"
        );
        assert_eq!(one_line("a\u{2028}b"), "a b");
    }

    #[test]
    fn only_html_templates_escape_and_unknown_variables_fail() {
        let mut env = environment();
        env.add_template("x.html.j2", "{{ v }}").unwrap();
        env.add_template("x.txt.j2", "{{ v }}").unwrap();
        env.add_template("typo.txt.j2", "{{ w }}").unwrap();
        let ctx = context! { v => "<b>&" };
        let html = env.get_template("x.html.j2").unwrap().render(&ctx).unwrap();
        assert_eq!(html, "&lt;b&gt;&amp;");
        assert_eq!(
            env.get_template("x.txt.j2").unwrap().render(&ctx).unwrap(),
            "<b>&"
        );
        assert!(
            env.get_template("typo.txt.j2")
                .unwrap()
                .render(&ctx)
                .is_err()
        );
    }
}
