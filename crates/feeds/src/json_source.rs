//! Reading JSON objects (an open-data portal's rows) through a mapping.
//!
//! The mapping names fields as it names CSV columns. A name is looked up as a key first
//! (Socrata's ":updated_at", "Zone/Beat"), then as a dotted path into nested objects
//! ("geometry.x", "location.latitude"). Numbers and booleans are read as their text; a
//! two-number array is a GeoJSON position (longitude first).

use std::collections::BTreeMap;

use porchlight_core::record::CadRecord;
use serde_json::Value;

use crate::{
    Mapping, MappingError, Problem,
    csv_source::Converter,
    mapping::{Coordinates, LocationColumns},
};

/// Turns JSON objects into records, one at a time, through a mapping.
pub struct JsonRecords<'m> {
    converter: Converter<'m>,
    names: Vec<String>,
    row: csv::StringRecord,
}

impl Mapping {
    /// Every field name the mapping reads, each once.
    fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = vec![self.incident_id.clone(), self.call_type.clone()];
        names.extend(self.time_columns.iter().cloned());
        names.extend(self.priority.iter().chain(&self.status).cloned());
        names.extend(self.narrative.iter().cloned());
        match &self.location {
            LocationColumns::None => {}
            LocationColumns::Address(a) => names.push(a.clone()),
            LocationColumns::NumberAndStreet { number, street } => {
                names.extend([number.clone(), street.clone()])
            }
            LocationColumns::CrossStreets(a, b) => names.extend([a.clone(), b.clone()]),
        }
        match &self.coordinates {
            Some(Coordinates::Apart(lat, lon)) => names.extend([lat.clone(), lon.clone()]),
            Some(Coordinates::Together(both)) => names.push(both.clone()),
            None => {}
        }
        names.extend(self.area.iter().map(|a| a.column.clone()));
        names.extend(self.units.iter().cloned());
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }

    /// Start reading JSON objects. Fails if the mapping names columns by position ("#3"),
    /// which JSON does not have.
    pub fn read_json(&self) -> Result<JsonRecords<'_>, MappingError> {
        let names = self.field_names();
        if let Some(positional) = names.iter().find(|n| n.starts_with('#')) {
            return Err(MappingError::Invalid {
                field: "fields".into(),
                reason: format!("{positional:?} names a column by position, which JSON rows do not have"),
            });
        }
        let headers = csv::StringRecord::from(names.clone());
        Ok(JsonRecords { converter: Converter::new(self, headers)?, names, row: csv::StringRecord::new() })
    }
}

/// The text of a field of `object`, by key or dotted path; empty if absent or null.
fn text_of(object: &Value, name: &str) -> String {
    let value = object.get(name).or_else(|| {
        let mut v = object;
        for part in name.split('.') {
            v = v.get(part)?;
        }
        Some(v)
    });
    value.map(value_text).unwrap_or_default()
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => match a.as_slice() {
            [Value::Number(lon), Value::Number(lat), ..] => format!("POINT ({lon} {lat})"),
            _ => String::new(),
        },
        // A Socrata location: {"latitude": "47.6", "longitude": "-122.3", ...}, or a GeoJSON point.
        Value::Object(o) => match (o.get("latitude"), o.get("longitude"), o.get("coordinates")) {
            (Some(lat), Some(lon), _) => format!("({}, {})", value_text(lat), value_text(lon)),
            (_, _, Some(c)) => value_text(c),
            _ => String::new(),
        },
    }
}

impl JsonRecords<'_> {
    /// Turn one object into a record; `index` (counting from 1) names it in a problem.
    pub fn convert(&mut self, index: u64, object: &Value) -> Result<CadRecord, Problem> {
        if !object.is_object() {
            return Err(Problem {
                line: index,
                field: "*".into(),
                code: "not_an_object",
                detail: "the record is not a JSON object".into(),
            });
        }
        self.row.clear();
        for name in &self.names {
            self.row.push_field(&text_of(object, name));
        }
        self.converter.convert(index, &self.row)
    }

    /// Call types that matched no rule of the mapping, with how many records had each.
    pub fn unmapped_call_types(&self) -> &BTreeMap<String, u64> {
        self.converter.unmapped_call_types()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_are_read_by_key_or_path_with_numbers_as_text() {
        let mapping = r#"
            [agency]
            id = "portal"
            name = "Portal PD"
            time_zone = "America/Chicago"
            [fields]
            incident_id = "OBJECTID"
            received_at = { columns = ["attributes.CallTime"], format = "epoch_ms" }
            call_type = "attributes.Nature"
            [location]
            address = "attributes.Location"
            x = "geometry.x"
            y = "geometry.y"
        "#;
        let m = Mapping::parse(mapping).unwrap();
        let mut rows = m.read_json().unwrap();
        let ok = json!({"OBJECTID": 7, "attributes": {"CallTime": 1525151428000_i64, "Nature": "THEFT",
            "Location": "5237 N 35TH ST"}, "geometry": {"x": -87.95, "y": 43.11}});
        let r = rows.convert(1, &ok).unwrap();
        assert_eq!(
            (r.source_id.as_str(), r.received_at.to_rfc3339().as_str()),
            ("7", "2018-05-01T05:10:28+00:00")
        );
        let p = r.point.unwrap();
        assert_eq!((p.expose().lat(), p.expose().lon()), (43.11, -87.95));
        let no_time = json!({"OBJECTID": 8, "attributes": {"Nature": "THEFT"}});
        assert_eq!(
            rows.convert(2, &no_time).unwrap_err().to_string(),
            "line 2, field `attributes.CallTime`: missing: no time in any of the time columns"
        );
        assert_eq!(rows.convert(3, &json!([1, 2])).unwrap_err().code, "not_an_object");
        assert_eq!(rows.unmapped_call_types().get("THEFT"), Some(&1));
    }

    #[test]
    fn socrata_locations_and_geojson_positions_are_coordinates() {
        assert_eq!(text_of(&json!({"p": [-96.8, 32.7]}), "p"), "POINT (-96.8 32.7)");
        assert_eq!(text_of(&json!({"l": {"latitude": "32.7", "longitude": "-96.8"}}), "l"), "(32.7, -96.8)");
        assert_eq!(
            text_of(&json!({"l": {"type": "Point", "coordinates": [-96.8, 32.7]}}), "l"),
            "POINT (-96.8 32.7)"
        );
        assert_eq!(text_of(&json!({":id": "row-1"}), ":id"), "row-1");
        assert_eq!(text_of(&json!({"a": null}), "a"), "");
    }
}
