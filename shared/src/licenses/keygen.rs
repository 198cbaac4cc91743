//! License keys: random characters from an alphabet, in dash-separated groups of four
//! (`G8HA-SRRZ-A6WK-TJWB`), as the vendor generates them.

use rand::Rng;

/// The vendor's default: no 0/O, 1/I confusion.
pub const DEFAULT_ALPHABET: &str = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
pub const DEFAULT_LENGTH: usize = 16;
pub const MIN_LENGTH: usize = 16;
pub const MAX_LENGTH: usize = 240;
const GROUP: usize = 4;

/// A key of `length` characters (dashes not counted) drawn uniformly from `alphabet`.
pub fn generate_key(rng: &mut impl Rng, alphabet: &[char], length: usize) -> String {
    let mut key = String::with_capacity(length + length / GROUP);
    for i in 0..length {
        if i > 0 && i % GROUP == 0 {
            key.push('-');
        }
        key.push(alphabet[rng.random_range(0..alphabet.len())]);
    }
    key
}

/// The characters of a caller's alphabet, if it can make keys: at least two distinct
/// printable ASCII characters other than the dash that separates groups.
pub fn parse_alphabet(text: &str) -> Result<Vec<char>, &'static str> {
    let mut chars: Vec<char> = Vec::new();
    for c in text.chars() {
        if !c.is_ascii_graphic() || c == '-' {
            return Err("The alphabet may hold printable ASCII characters other than \"-\" only.");
        }
        if !chars.contains(&c) {
            chars.push(c);
        }
    }
    if chars.len() < 2 {
        return Err("The alphabet needs at least two different characters.");
    }
    Ok(chars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn default_keys_look_like_the_vendors() {
        let alphabet: Vec<char> = DEFAULT_ALPHABET.chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let key = generate_key(&mut rng, &alphabet, DEFAULT_LENGTH);
        assert_eq!(key.len(), 19);
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|g| g.len() == 4 && g.chars().all(|c| DEFAULT_ALPHABET.contains(c))));
    }

    #[test]
    fn lengths_that_are_not_multiples_of_four() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let key = generate_key(&mut rng, &['A', 'B'], 18);
        assert_eq!(key.replace('-', "").len(), 18);
        assert_eq!(key.split('-').next_back().unwrap().len(), 2);
    }

    #[test]
    fn alphabets() {
        assert_eq!(parse_alphabet("ABCA").unwrap(), vec!['A', 'B', 'C']);
        assert!(parse_alphabet("AAAA").is_err());
        assert!(parse_alphabet("AB-").is_err());
        assert!(parse_alphabet("AB C").is_err());
        assert!(parse_alphabet("ABé").is_err());
    }
}
