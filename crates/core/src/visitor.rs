//! Visitor identity without cookies: a keyed hash of (daily salt, site, IP, user agent).
//!
//! The IP address goes into the hash and nowhere else. Salts are random, rotate daily and
//! are deleted after 48 hours, after which no id can be linked to an IP again.

/// A 32-byte random salt.
pub type Salt = [u8; 32];

/// `visitor_id = blake3_keyed(salt, site_id ‖ 0 ‖ ip ‖ 0 ‖ user_agent)` truncated to 64 bits.
pub fn visitor_id(salt: &Salt, site_id: u32, ip: &str, user_agent: &str) -> u64 {
    let mut h = blake3::Hasher::new_keyed(salt);
    h.update(&site_id.to_le_bytes());
    h.update(&[0]);
    h.update(ip.as_bytes());
    h.update(&[0]);
    h.update(user_agent.as_bytes());
    let out = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&out.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_every_input() {
        let s1 = [1u8; 32];
        let s2 = [2u8; 32];
        let base = visitor_id(&s1, 1, "1.2.3.4", "ua");
        assert_eq!(base, visitor_id(&s1, 1, "1.2.3.4", "ua"));
        assert_ne!(base, visitor_id(&s2, 1, "1.2.3.4", "ua"));
        assert_ne!(base, visitor_id(&s1, 2, "1.2.3.4", "ua"));
        assert_ne!(base, visitor_id(&s1, 1, "1.2.3.5", "ua"));
        assert_ne!(base, visitor_id(&s1, 1, "1.2.3.4", "ub"));
        // No ambiguity between field boundaries.
        assert_ne!(
            visitor_id(&s1, 1, "1.2.3.4u", "a"),
            visitor_id(&s1, 1, "1.2.3.4", "ua")
        );
    }
}
