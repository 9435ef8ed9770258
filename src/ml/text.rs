//! What a short text means, as a vector: all-MiniLM-L6-v2 (int8) in tract. BERT's uncased
//! WordPiece tokens go in; the last hidden states, averaged over the tokens and L2-normalised,
//! come out (384 numbers). Texts that mean the same have vectors pointing the same way, so "the
//! puppy loves the snow" lands near "dog playing in the snow" with no word in common.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::MlError;
use super::models::{Lazy, ModelSpec, read_labels, weights_path};

/// The manifest's name of the model.
pub const MODEL: &str = "text-embedder";
/// Numbers per vector.
pub const DIMENSIONS: usize = 384;
/// Most tokens per text, [CLS] and [SEP] included (what the model was trained on).
const MAX_TOKENS: usize = 128;
/// Longest word WordPiece splits; longer ones are unknown.
const MAX_WORD_CHARS: usize = 100;

/// Token counts texts are padded to: one optimized plan per length, made on first use.
const LENGTHS: [usize; 4] = [16, 32, 64, MAX_TOKENS];

/// The loaded model and its vocabulary.
pub struct Embedder {
    /// The model as read, before its input length is fixed.
    source: InferenceModel,
    /// The plans made so far, by padded length.
    plans: Mutex<HashMap<usize, Arc<TypedRunnableModel>>>,
    /// Which graph input each of ids, mask and token types is.
    inputs: [usize; 3],
    vocab: HashMap<String, i64>,
    unknown: i64,
    start: i64,
    end: i64,
    pad: i64,
}

static EMBEDDER: Lazy<Embedder> = Lazy::new();

/// The embedder from `dir`, loaded on first use. Blocking.
pub fn embedder(dir: &Path) -> Result<Arc<Embedder>, MlError> {
    EMBEDDER.get(dir, MODEL, Embedder::load)
}

impl Embedder {
    fn load(dir: &Path, spec: &ModelSpec) -> Result<Embedder, String> {
        let vocab: HashMap<String, i64> = read_labels(dir, spec)?
            .into_iter()
            .enumerate()
            .map(|(i, token)| (token, i as i64))
            .collect();
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| format!("the vocabulary has no {token}"))
        };
        let (unknown, start, end, pad) = (id("[UNK]")?, id("[CLS]")?, id("[SEP]")?, id("[PAD]")?);
        // The file's shapes of intermediate values are for its symbolic length only.
        let source = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_path(weights_path(dir, spec))
            .map_err(|e| format!("loading {}: {e:#}", spec.file))?;
        let position = |name: &str| {
            source
                .input_outlets()
                .map_err(|e| e.to_string())?
                .iter()
                .position(|o| source.node(o.node).name == name)
                .ok_or_else(|| format!("{} has no input {name}", spec.file))
        };
        let inputs = [
            position("input_ids")?,
            position("attention_mask")?,
            position("token_type_ids")?,
        ];
        let embedder = Embedder {
            source,
            plans: Mutex::default(),
            inputs,
            vocab,
            unknown,
            start,
            end,
            pad,
        };
        // A model that does not optimize fails here, not on the first text.
        embedder.plan(LENGTHS[0]).map_err(|e| e.to_string())?;
        Ok(embedder)
    }

    /// The plan for texts padded to `length` tokens.
    fn plan(&self, length: usize) -> Result<Arc<TypedRunnableModel>, MlError> {
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(plan) = plans.get(&length) {
            return Ok(plan.clone());
        }
        let mut model = self.source.clone();
        let plan = (0..3)
            .try_for_each(|i| model.set_input_fact(i, i64::fact([1, length]).into()))
            .and_then(|()| model.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| MlError::ModelCorrupt(format!("optimizing the text model: {e:#}")))?;
        plans.insert(length, plan.clone());
        Ok(plan)
    }

    /// The token ids of `text`: [CLS], its WordPiece tokens (cut to fit), [SEP].
    pub fn tokens(&self, text: &str) -> Vec<i64> {
        let mut ids = vec![self.start];
        for word in basic_words(text) {
            self.word_pieces(&word, &mut ids);
            if ids.len() >= MAX_TOKENS - 1 {
                break;
            }
        }
        ids.truncate(MAX_TOKENS - 1);
        ids.push(self.end);
        ids
    }

    /// Appends `word`'s longest-first WordPiece tokens, or [UNK] when it cannot be split.
    fn word_pieces(&self, word: &str, ids: &mut Vec<i64>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            ids.push(self.unknown);
            return;
        }
        let mut pieces = Vec::new();
        let mut from = 0;
        while from < chars.len() {
            let piece = (from + 1..=chars.len()).rev().find_map(|to| {
                let text: String = chars[from..to].iter().collect();
                let key = if from == 0 { text } else { format!("##{text}") };
                self.vocab.get(&key).map(|&id| (id, to))
            });
            match piece {
                Some((id, to)) => {
                    pieces.push(id);
                    from = to;
                }
                None => {
                    ids.push(self.unknown);
                    return;
                }
            }
        }
        ids.extend(pieces);
    }

    /// The unit vector of what `text` means.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, MlError> {
        let mut ids = self.tokens(text);
        let used = ids.len();
        let length = LENGTHS
            .into_iter()
            .find(|l| *l >= used)
            .unwrap_or(MAX_TOKENS);
        ids.resize(length, self.pad);
        let mask: Vec<i64> = (0..length).map(|i| i64::from(i < used)).collect();
        let tensor = |values: Vec<i64>| {
            Tensor::from_shape(&[1, length], &values)
                .map_err(|e| MlError::Inference(format!("input: {e}")))
        };
        let mut inputs: TVec<TValue> = tvec![TValue::from(Tensor::default()); 3];
        inputs[self.inputs[0]] = tensor(ids)?.into();
        inputs[self.inputs[1]] = tensor(mask)?.into();
        inputs[self.inputs[2]] = tensor(vec![0; length])?.into();
        let outputs = self
            .plan(length)?
            .run(inputs)
            .map_err(|e| MlError::Inference(format!("{e:#}")))?;
        let view = outputs
            .iter()
            .find(|o| o.rank() == 3)
            .ok_or_else(|| MlError::Inference("no hidden states in the output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| MlError::Inference(format!("output: {e}")))?;
        let hidden = view
            .as_slice()
            .ok_or_else(|| MlError::Inference("the hidden states are not contiguous".into()))?;
        let mut mean = vec![0f32; DIMENSIONS];
        // The mean over the text's own tokens, not the padding.
        for token in hidden.chunks_exact(DIMENSIONS).take(used) {
            for (sum, x) in mean.iter_mut().zip(token) {
                *sum += x;
            }
        }
        let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        Ok(mean.into_iter().map(|x| x / norm).collect())
    }
}

/// BERT's basic tokenizer, uncased: lower case, accents dropped, control characters removed,
/// split at white space and around every punctuation mark and CJK character.
fn basic_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let lowered = text.to_lowercase();
    for ch in lowered.nfd() {
        let category = ch.general_category();
        let white =
            matches!(ch, ' ' | '\t' | '\n' | '\r') || category == GeneralCategory::SpaceSeparator;
        let control = matches!(category, GeneralCategory::Control | GeneralCategory::Format);
        if !white && (control || ch == '\u{fffd}' || category == GeneralCategory::NonspacingMark) {
            continue;
        }
        if white {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
        } else if is_punctuation(ch) || is_cjk(ch) {
            words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)));
            words.push(ch.to_string());
        } else {
            word.push(ch);
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    words
}

/// BERT's punctuation: every ASCII symbol and every character of a punctuation category.
fn is_punctuation(ch: char) -> bool {
    ch.is_ascii_punctuation() || ch.general_category_group() == GeneralCategoryGroup::Punctuation
}

/// The CJK ideograph blocks BERT splits into single characters.
fn is_cjk(ch: char) -> bool {
    matches!(ch as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_words_split_like_bert() {
        assert_eq!(
            basic_words("Héllo, WORLD! 猫cat\tdon't"),
            ["hello", ",", "world", "!", "猫", "cat", "don", "'", "t"]
        );
        assert!(basic_words(" \u{0}\u{7} ").is_empty());
        assert_eq!(basic_words("a\u{7}b €5 naïve"), ["ab", "€5", "naive"]);
    }
}
