//! Grouping faces into people by nearest neighbours in embedding space. A new face joins the
//! person of its nearest assigned face within the distance threshold; failing that, it founds a
//! person together with the unassigned faces near it once there are enough of them.

/// A face as clustering sees it.
#[derive(Debug, Clone)]
pub struct Point {
    pub id: String,
    pub file_id: String,
    pub person_id: Option<String>,
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
}

/// How clustering decides.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Largest cosine distance (1 - cosine similarity) between faces of one person.
    pub max_distance: f32,
    /// Faces needed to found a person.
    pub min_faces: usize,
}

impl Params {
    /// The clustering the configuration asks for.
    pub fn from_config(config: &crate::config::Config) -> Params {
        Params {
            max_distance: config.face_max_distance,
            min_faces: config.face_min_faces as usize,
        }
    }
}

/// What to do with a new face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Join this existing person.
    Join(String),
    /// Found a new person with these unassigned faces (ids, the new face not included).
    Found(Vec<String>),
    /// Stay unassigned for now.
    Wait,
}

/// Cosine distance of two L2-normalised vectors.
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
}

/// Decides where `face` goes among `others` (which may include it; it is ignored). Faces of
/// the same file never vouch for each other: one photo does not show a person twice.
pub fn decide(face: &Point, others: &[Point], params: Params) -> Decision {
    let near: Vec<(&Point, f32)> = others
        .iter()
        .filter(|o| o.id != face.id && o.file_id != face.file_id)
        .map(|o| (o, distance(&face.embedding, &o.embedding)))
        .filter(|(_, d)| *d <= params.max_distance)
        .collect();
    let nearest_person = near
        .iter()
        .filter(|(o, _)| o.person_id.is_some())
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((o, _)) = nearest_person {
        return Decision::Join(o.person_id.clone().unwrap_or_default());
    }
    // One face per file, the closest first.
    let mut by_distance = near;
    by_distance.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut files = std::collections::HashSet::new();
    let free: Vec<&str> = by_distance
        .into_iter()
        .filter(|(o, _)| files.insert(o.file_id.as_str()))
        .map(|(o, _)| o.id.as_str())
        .collect();
    if free.len() + 1 >= params.min_faces.max(1) {
        Decision::Found(free.into_iter().map(str::to_owned).collect())
    } else {
        Decision::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: &str, file: &str, person: Option<&str>, angle: f32) -> Point {
        Point {
            id: id.into(),
            file_id: file.into(),
            person_id: person.map(Into::into),
            embedding: vec![angle.cos(), angle.sin()],
        }
    }

    const PARAMS: Params = Params {
        max_distance: 0.3,
        min_faces: 3,
    };

    #[test]
    fn a_face_joins_the_person_of_its_nearest_assigned_neighbour() {
        let others = [
            point("a", "f1", Some("p1"), 0.0),
            point("b", "f2", Some("p2"), 0.5),
            point("c", "f3", None, 0.35),
        ];
        let face = point("new", "f9", None, 0.4);
        assert_eq!(decide(&face, &others, PARAMS), Decision::Join("p2".into()));
    }

    #[test]
    fn enough_close_unassigned_faces_found_a_person_and_far_ones_wait() {
        let others = [
            point("a", "f1", None, 0.0),
            point("b", "f2", None, 0.1),
            point("far", "f3", None, 2.0),
        ];
        let face = point("new", "f9", None, 0.05);
        assert_eq!(
            decide(&face, &others, PARAMS),
            Decision::Found(vec!["a".into(), "b".into()])
        );
        let lonely = point("new", "f9", None, 1.0);
        assert_eq!(decide(&lonely, &others, PARAMS), Decision::Wait);
    }

    #[test]
    fn faces_of_the_same_photo_do_not_count() {
        let others = [point("a", "f1", None, 0.0), point("b", "f1", None, 0.01)];
        let face = point("new", "f9", None, 0.02);
        assert_eq!(decide(&face, &others, PARAMS), Decision::Wait);
        let same_file = point("new", "f1", None, 0.02);
        assert_eq!(decide(&same_file, &others, PARAMS), Decision::Wait);
    }
}
