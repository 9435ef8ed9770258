//! Reading CSV, one record per line (RFC 4180 quoting, no line breaks inside fields): enough
//! for the model class maps and the photo lists other services export.

/// Splits one CSV line into its fields, unquoting quoted ones.
pub fn record(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next().ok_or("unterminated quoted field")? {
                    // A quote ends the field unless it is doubled (`""`, a literal quote).
                    '"' if chars.next_if_eq(&'"').is_none() => break,
                    c => field.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|&c| c != ',') {
                field.push(c);
            }
        }
        fields.push(field);
        match chars.next() {
            None => return Ok(fields),
            Some(',') => {}
            Some(_) => return Err("text after a closing quote"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tricky_records() {
        assert_eq!(
            record("104,/m/0cdnk,\"Roaring cats (lions, tigers)\"").unwrap(),
            ["104", "/m/0cdnk", "Roaring cats (lions, tigers)"]
        );
        assert_eq!(
            record("339,/m/08j51y,\"Dental drill, dentist's drill\"").unwrap(),
            ["339", "/m/08j51y", "Dental drill, dentist's drill"]
        );
        assert_eq!(
            record("1,\"say \"\"hi\"\"\",").unwrap(),
            ["1", "say \"hi\"", ""]
        );
        assert!(record("1,\"open").is_err());
        assert!(record("1,\"a\"b").is_err());
    }
}
