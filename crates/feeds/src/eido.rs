//! NENA EIDO (Emergency Incident Data Object, NENA-STA-024.1a, with the data types of
//! NENA-STA-021.1a) in JSON: the fields that map onto a dispatch record.
//!
//! Read: the incident component's tracking identifier, type (the agency's internal code or text
//! first, since the mapping's call-type table is written for those; else the common registry
//! text), status, priority and beat; the earliest call start time (else the incident's last
//! update time); its location component (referenced by `locationReference`, else the first),
//! whose `locationByValue` is a PIDF-LO document with a civic address and/or a `gml:pos`; and
//! the text of its notes. Everything else (people, vehicles, agents) is never read.

use chrono::{DateTime, Utc};
use quick_xml::{Reader, events::Event};
use serde_json::Value;

use crate::{Incoming, IncomingLocation};

/// Why an EIDO could not be read: the field (a JSON path) and the reason. Never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EidoError {
    pub field: String,
    pub reason: String,
}

fn error(field: &str, reason: &str) -> EidoError {
    EidoError { field: field.to_owned(), reason: reason.to_owned() }
}

/// A string, or the last string of a list (statuses are lists, newest last).
fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => return items.iter().rev().find_map(|i| text(Some(i))),
        _ => return None,
    };
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// An object, or the first object of a list (EIDO producers send components either way).
fn first(v: Option<&Value>) -> Option<&Value> {
    match v? {
        Value::Array(items) => items.iter().find(|i| i.is_object()),
        o @ Value::Object(_) => Some(o),
        _ => None,
    }
}

/// The ids a reference names: `{"$ref": "loc-1"}`, a list of those, "$ref:loc-1" or "#loc-1".
fn references(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().flat_map(|i| references(Some(i))).collect(),
        Some(Value::Object(o)) => references(o.get("$ref")),
        Some(Value::String(s)) => {
            let id = s.trim().trim_start_matches("$ref:").trim_start_matches('#');
            vec![id.to_owned()]
        }
        _ => Vec::new(),
    }
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text(v)?).ok().map(|t| t.with_timezone(&Utc))
}

/// Read one EIDO into a pushed record.
pub fn incoming_from_eido(eido: &Value) -> Result<Incoming, EidoError> {
    let incident = first(eido.get("incidentComponent"))
        .ok_or_else(|| error("incidentComponent", "missing: an EIDO carries one incident component"))?;
    let incident_id = text(incident.get("incidentTrackingIdentifier"))
        .or_else(|| text(incident.get("internalIncidentId")))
        .ok_or_else(|| error("incidentComponent.incidentTrackingIdentifier", "missing"))?;
    let call_type = text(incident.get("incidentTypeInternalCode"))
        .or_else(|| text(incident.get("incidentTypeInternalText")))
        .or_else(|| text(incident.get("incidentTypeCommonRegistryText")))
        .ok_or_else(|| error("incidentComponent.incidentTypeCommonRegistryText", "missing"))?;
    let calls: Vec<&Value> = match eido.get("callComponent") {
        Some(Value::Array(calls)) => calls.iter().collect(),
        Some(call @ Value::Object(_)) => vec![call],
        _ => Vec::new(),
    };
    let received_at = calls
        .iter()
        .filter_map(|c| time(c.get("callStartTimestamp")))
        .min()
        .or_else(|| time(incident.get("lastUpdateTimeStamp")))
        .or_else(|| time(eido.get("lastUpdateTimeStamp")));
    if received_at.is_none() {
        return Err(error(
            "callComponent.callStartTimestamp",
            "missing: no call start time or last update time with its offset",
        ));
    }
    let locations: Vec<&Value> = match eido.get("locationComponent") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let wanted = references(incident.get("locationReference"));
    let location = locations
        .iter()
        .copied()
        .find(|l| {
            let id = text(l.get("$id")).or_else(|| text(l.get("componentIdentifier")));
            id.is_some_and(|id| wanted.contains(&id))
        })
        .or_else(|| locations.first().copied());
    let mut place = match location.and_then(|l| text(l.get("locationByValue"))) {
        Some(pidf) => pidf_lo(&pidf).map_err(|reason| error("locationComponent.locationByValue", &reason))?,
        None => IncomingLocation::default(),
    };
    place.area = text(incident.get("beatOrDispatchGroupText"));
    let notes: Vec<String> = match eido.get("notesComponent") {
        Some(Value::Array(notes)) => notes.iter().filter_map(|n| text(n.get("noteText"))).collect(),
        Some(note @ Value::Object(_)) => text(note.get("noteText")).into_iter().collect(),
        _ => Vec::new(),
    };
    Ok(Incoming {
        incident_id,
        received_at,
        call_type,
        priority: text(incident.get("incidentPriorityInternalText"))
            .or_else(|| text(incident.get("incidentCommonPriorityNumber"))),
        status: text(incident.get("incidentStatusInternalText"))
            .or_else(|| text(incident.get("incidentStatusCommonRegistryText"))),
        location: place,
        narrative: (!notes.is_empty()).then(|| notes.join(" / ")),
        units: Vec::new(),
    })
}

/// The civic address (RFC 5139: HNO, HNS, PRD, RD or A6, STS, POD) and point (`gml:pos`,
/// latitude first) of a PIDF-LO document. Errors never quote the document.
fn pidf_lo(xml: &str) -> Result<IncomingLocation, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut parts: Vec<(String, String)> = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                current = Some(e.local_name().as_ref().to_owned());
            }
            Ok(Event::Text(t)) => {
                if let Some(name) = &current {
                    let value: &str = t.as_ref();
                    parts.push((name.clone(), value.trim().to_owned()));
                }
            }
            Ok(Event::End(_)) => current = None,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) => return Err("the location document is not well-formed XML (PIDF-LO)".into()),
        }
    }
    let get = |name: &str| parts.iter().find(|(n, v)| n == name && !v.is_empty()).map(|(_, v)| v.as_str());
    let street: Vec<&str> =
        [get("PRD"), get("RD").or_else(|| get("A6")), get("STS"), get("POD")].into_iter().flatten().collect();
    let mut location = IncomingLocation::default();
    if !street.is_empty() {
        let number = [get("HNO"), get("HNS")].into_iter().flatten().collect::<Vec<_>>().join("");
        location.address =
            Some(if number.is_empty() { street.join(" ") } else { format!("{number} {}", street.join(" ")) });
    }
    if let Some(pos) = get("pos") {
        let numbers: Vec<f64> = pos.split_ascii_whitespace().filter_map(|n| n.parse().ok()).collect();
        match numbers[..] {
            [lat, lon, ..] => (location.latitude, location.longitude) = (Some(lat), Some(lon)),
            _ => return Err("gml:pos is not \"<latitude> <longitude>\"".into()),
        }
    }
    Ok(location)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PIDF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
  xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" xmlns:gml="http://www.opengis.net/gml" entity="pres:cad@example.org">
 <tuple id="loc"><status><gp:geopriv><gp:location-info>
  <ca:civicAddress><ca:country>US</ca:country><ca:A1>WI</ca:A1><ca:A3>Milwaukee</ca:A3>
   <ca:HNO>5237</ca:HNO><ca:PRD>N</ca:PRD><ca:RD>35TH</ca:RD><ca:STS>ST</ca:STS></ca:civicAddress>
  <gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>43.1127987 -87.9567415</gml:pos></gml:Point>
 </gp:location-info></gp:geopriv></status></tuple></presence>"#;

    fn eido() -> Value {
        json!({
            "eidoMessageIdentifier": "urn:emergency:uid:eidomessageid:0001:cad.example.org",
            "lastUpdateTimeStamp": "2018-05-01T00:20:00-05:00",
            "incidentComponent": {
                "$id": "inc-1",
                "incidentTrackingIdentifier": "urn:emergency:uid:incidentid:1211372:cad.example.org",
                "incidentTypeCommonRegistryText": "Law Enforcement",
                "incidentTypeInternalCode": "TRBL W/SUBJ",
                "incidentStatusCommonRegistryText": ["Dispatched", "OnScene"],
                "incidentCommonPriorityNumber": 4,
                "beatOrDispatchGroupText": "4",
                "locationReference": [{"$ref": "loc-2"}]
            },
            "callComponent": [{"callStartTimestamp": "2018-05-01T00:10:28-05:00"}],
            "locationComponent": [
                {"$id": "loc-1", "locationTypeDescriptionRegistryText": "Caller", "locationByValue": "<bad"},
                {"$id": "loc-2", "locationTypeDescriptionRegistryText": "CurrentIncident", "locationByValue": PIDF}
            ],
            "personComponent": [{"personNameText": "Jane Roe"}],
            "notesComponent": [{"noteText": "caller reports a man yelling"}]
        })
    }

    #[test]
    fn the_fields_that_map_are_read_and_people_are_not() {
        let i = incoming_from_eido(&eido()).unwrap();
        assert_eq!(i.incident_id, "urn:emergency:uid:incidentid:1211372:cad.example.org");
        assert_eq!(i.call_type, "TRBL W/SUBJ");
        assert_eq!(i.status.as_deref(), Some("OnScene"));
        assert_eq!(i.priority.as_deref(), Some("4"));
        assert_eq!(i.received_at.unwrap().to_rfc3339(), "2018-05-01T05:10:28+00:00");
        assert_eq!(i.location.address.as_deref(), Some("5237 N 35TH ST"));
        assert_eq!((i.location.latitude, i.location.longitude), (Some(43.1127987), Some(-87.9567415)));
        assert_eq!(i.location.area.as_deref(), Some("4"));
        assert_eq!(i.narrative.as_deref(), Some("caller reports a man yelling"));
        assert!(!format!("{i:?}").contains("Jane Roe"));
    }

    #[test]
    fn missing_parts_are_named_without_values() {
        let mut no_id = eido();
        no_id["incidentComponent"].as_object_mut().unwrap().remove("incidentTrackingIdentifier");
        assert_eq!(
            incoming_from_eido(&no_id).unwrap_err().field,
            "incidentComponent.incidentTrackingIdentifier"
        );
        let mut bad_location = eido();
        bad_location["incidentComponent"]["locationReference"] = json!("$ref:loc-1");
        let e = incoming_from_eido(&bad_location).unwrap_err();
        assert_eq!(e.field, "locationComponent.locationByValue");
        assert!(!e.reason.contains("<bad"));
        let mut no_time = eido();
        no_time.as_object_mut().unwrap().remove("lastUpdateTimeStamp");
        no_time.as_object_mut().unwrap().remove("callComponent");
        assert_eq!(incoming_from_eido(&no_time).unwrap_err().field, "callComponent.callStartTimestamp");
        assert_eq!(incoming_from_eido(&json!({})).unwrap_err().field, "incidentComponent");
    }
}
