//! The process's one TLS crypto provider (ring), installed once before any TLS client or
//! server is built: by the app at start, and by the HTTP clients that tests build alone.

/// Installs ring as the default provider; later calls do nothing.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when another provider is installed already; that one then serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
