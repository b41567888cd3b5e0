//! The mapping loader on arbitrary text: it never panics, and a mapping it accepts reads a
//! small CSV file and a JSON object without panicking either (every record is a call or a
//! problem that names its line and field).

#![no_main]

use libfuzzer_sys::fuzz_target;
use porchlight_feeds::Mapping;

const CSV: &str = "date_time,call_type,status,address,lat,lon,id\n\
                   2018-05-01T01:02:03.000,THEFT,Assigned,5237 N 35TH ST,43.1,-87.9,1\n\
                   ,,,,,,\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mapping) = Mapping::parse(text) else { return };
    if let Ok(records) = mapping.read_csv(CSV.as_bytes()) {
        for record in records {
            if let Err(problem) = record {
                assert!(!problem.to_string().is_empty());
            }
        }
    }
    if let Ok(mut records) = mapping.read_json() {
        let object = serde_json::json!({"date_time": "2018-05-01T01:02:03.000", "call_type": "THEFT", "id": "1"});
        let _ = records.convert(1, &object);
    }
});
