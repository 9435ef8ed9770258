//! The OpenAPI 3 document, generated from the route table so it cannot drift from the router.

use serde_json::{Map, Value, json};

use crate::app::VERSION;
use crate::http::routes::{AccessRule, ROUTES, RouteInfo};

/// The document served at `/api/openapi.json`.
pub fn document() -> Value {
    let mut paths = Map::new();
    for info in ROUTES {
        let item = paths.entry(info.path).or_insert_with(|| json!({}));
        item[info.method.as_str().to_ascii_lowercase()] = operation(info);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Alcoves API",
            "version": VERSION,
            "description": "Self-hosted media library. Errors are JSON {code, message}; non-members of a library get 404.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sessionCookie": { "type": "apiKey", "in": "cookie", "name": crate::auth::cookie::SESSION_COOKIE },
                "accessToken": { "type": "http", "scheme": "bearer" },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": { "code": { "type": "string" }, "message": { "type": "string" } },
                },
            },
        },
    })
}

/// The access rule as the `x-access` extension text.
pub fn access_text(rule: AccessRule) -> String {
    match rule {
        AccessRule::Public => "public".into(),
        AccessRule::Session => "session".into(),
        AccessRule::Library(role) => format!("library:{}", role.as_str()),
        AccessRule::InstanceOwner => "instance_owner".into(),
    }
}

fn operation(info: &RouteInfo) -> Value {
    let parameters: Vec<Value> = info
        .params
        .iter()
        .map(|(name, format)| {
            let mut schema = json!({ "type": "string" });
            if !format.is_empty() {
                schema["format"] = (*format).into();
            }
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect();
    let security = match info.access {
        AccessRule::Public => json!([]),
        _ => json!([{ "sessionCookie": [] }, { "accessToken": [] }]),
    };
    let error = json!({ "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let mut op = json!({
        "operationId": info.name,
        "summary": info.summary.trim(),
        "tags": [info.tag],
        "parameters": parameters,
        "security": security,
        "x-access": access_text(info.access),
        "responses": {
            "2XX": { "description": "success", "content": { "application/json": { "schema": {} } } },
            "default": error,
        },
    });
    if matches!(
        info.method,
        http::Method::POST | http::Method::PATCH | http::Method::PUT
    ) {
        op["requestBody"] = json!({
            "required": false,
            "content": { "application/json": { "schema": { "type": "object" } } },
        });
    }
    op
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_once_with_its_access_rule() {
        let doc = super::document();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let info = crate::http::routes::ROUTES
                    .iter()
                    .find(|r| r.name == op["operationId"])
                    .unwrap_or_else(|| panic!("{method} {path} is not in the route table"));
                assert_eq!(info.path, path);
                assert_eq!(info.method.as_str().to_ascii_lowercase(), *method);
                assert_eq!(op["x-access"], super::access_text(info.access));
            }
        }
        assert_eq!(operations, crate::http::routes::ROUTES.len());
    }
}
