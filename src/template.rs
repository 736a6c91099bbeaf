//! The minijinja environment for label and header templates: strict undefined (a name that does not
//! exist is an error, not an empty string), lookup tables exposed as `tables.<name>[key]`, and one
//! place that renders. Templates are compiled from the manifest's strings; nothing here does I/O.

use minijinja::{Environment, UndefinedBehavior, Value};
use std::collections::BTreeMap;

/// A lookup table: `old` -> `new`, read from a CSV file with a header row `old,new`.
pub type Table = BTreeMap<String, String>;

/// Why a template could not be compiled or rendered.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// The minijinja error, as one line.
    pub message: String,
}

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        let mut message = e.kind().to_string();
        if let Some(detail) = e.detail() {
            message = format!("{message}: {detail}");
        }
        TemplateError { message }
    }
}

/// The template environment of one manifest.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// An environment whose templates can read `tables.<name>[key]`.
    pub fn new(tables: &BTreeMap<String, Table>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_global("tables", Value::from(minijinja::value::Serde(tables)));
        Templates { env }
    }

    /// Checks that a template compiles.
    pub fn check(&self, source: &str) -> Result<(), TemplateError> {
        self.env.template_from_str(source)?;
        Ok(())
    }

    /// The variables a template reads, dotted to the attribute (`subject.label`, `tables.ids`).
    pub fn variables(&self, source: &str) -> Result<Vec<String>, TemplateError> {
        let tmpl = self.env.template_from_str(source)?;
        let mut v: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        v.sort();
        Ok(v)
    }

    /// Renders a template once against sample values with lenient lookups, to find what only
    /// rendering finds: unknown filters, tests, functions and methods, and wrong numbers of
    /// arguments. Failures that depend on values (a key missing from a table, a filter refusing a
    /// sample value) are not reported here: the planner names those with the real values.
    pub fn check_calls(
        &self,
        source: &str,
        sample: &impl serde::Serialize,
    ) -> Result<(), TemplateError> {
        use minijinja::ErrorKind as K;
        let mut env = self.env.clone();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        let tmpl = env.template_from_str(source)?;
        match tmpl.render(Value::from(minijinja::value::Serde(sample))) {
            Err(e)
                if matches!(
                    e.kind(),
                    K::UnknownFilter
                        | K::UnknownTest
                        | K::UnknownFunction
                        | K::UnknownMethod
                        | K::MissingArgument
                        | K::TooManyArguments
                        | K::SyntaxError
                ) =>
            {
                Err(e.into())
            }
            _ => Ok(()),
        }
    }

    /// Renders a template against a context (any serialisable value, usually a JSON object with
    /// `source`, `dest`, `subject`, `session` and `dicom`). The result is trimmed of surrounding
    /// white space.
    pub fn render(
        &self,
        source: &str,
        context: &impl serde::Serialize,
    ) -> Result<String, TemplateError> {
        let tmpl = self.env.template_from_str(source)?;
        let out = tmpl.render(Value::from(minijinja::value::Serde(context)))?;
        Ok(out.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Templates {
        let mut t = Table::new();
        t.insert("SUB001".into(), "P001".into());
        let mut tables = BTreeMap::new();
        tables.insert("ids".to_string(), t);
        Templates::new(&tables)
    }

    #[test]
    fn renders_with_filters_and_tables() {
        let t = templates();
        let ctx = json!({"subject": {"label": "SUB001"}});
        assert_eq!(
            t.render("MAIN_{{ subject.label | replace('SUB', '') }}", &ctx)
                .unwrap(),
            "MAIN_001"
        );
        assert_eq!(
            t.render("{{ tables.ids[subject.label] }}", &ctx).unwrap(),
            "P001"
        );
    }

    #[test]
    fn undefined_names_are_errors() {
        let t = templates();
        let ctx = json!({"subject": {"label": "SUB001"}});
        assert!(t.render("{{ subjet.label }}", &ctx).is_err());
        assert!(t.render("{{ subject.lable }}", &ctx).is_err());
        assert!(t.render("{{ tables.ids['NOPE'] }}", &ctx).is_err());
    }

    #[test]
    fn unknown_filters_and_wrong_arguments_are_found_before_any_data() {
        let t = templates();
        let ctx = json!({"subject": {"label": "SUB001"}, "dicom": {}});
        for bad in [
            "{{ subject.label | nosuchfilter }}",
            "{{ tables.ids[subject.label] | nosuchfilter }}",
            "{{ subject.label | replace('SUB') }}",
            "{% if subject.label is nosuchtest %}x{% endif %}",
            "{{ subject.label.nosuchmethod() }}",
        ] {
            assert!(t.check_calls(bad, &ctx).is_err(), "{bad}");
        }
        for good in [
            "{{ tables.ids[subject.label] | upper }}",
            "{{ dicom.PatientID | default('x') }}",
            "{{ subject.label | replace('SUB', '') | int }}",
        ] {
            assert!(t.check_calls(good, &ctx).is_ok(), "{good}");
        }
    }

    #[test]
    fn syntax_errors_are_reported() {
        let t = templates();
        let e = t.check("{{ subject.label ").unwrap_err();
        assert!(e.message.contains("syntax error"), "{}", e.message);
    }
}
