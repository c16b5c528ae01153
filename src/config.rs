//! One vocabulary for configuration: every environment variable and every component variable
//! (Spin application variables, the Lambda bootstrap's and the worker's bindings), each with one
//! meaning, in one table ([`SETTINGS`]). `doc/configuration.md` is rendered from it
//! ([`markdown`]; a test keeps the two equal) and the CLI's flags take their environment
//! fallbacks from the same names (a test checks that too).
//!
//! The rule between the two kinds of name: a component variable `registry_url` is read from the
//! environment variable `SCORELET_REGISTRY_URL` wherever a platform has no variables of its own
//! (Lambda, the worker, `scorelet serve`).

/// Component variables (Spin variables; `scorelet serve`, Lambda and the worker set them).
pub mod var {
    /// `NAME@VERSION` or `NAME@ALIAS` to fetch when no bundle is embedded or mounted.
    pub const MODEL: &str = "model";
    /// Base URL of the registry.
    pub const REGISTRY_URL: &str = "registry_url";
    /// Token sent to the registry on reads (`Authorization: Bearer`).
    pub const REGISTRY_READ_TOKEN: &str = "registry_read_token";
    /// Key the scoring and metadata routes require.
    pub const API_KEY: &str = "api_key";
    /// The publisher's Ed25519 public key (hex): fetched bundles must be signed with it.
    pub const REGISTRY_PUBLIC_KEY: &str = "registry_public_key";
    /// A bundle directory in the component's filesystem.
    pub const BUNDLE_DIR: &str = "bundle_dir";
    /// Which engine runs the model: `auto`, `compiled` or `tract` (`scorelet::model::Engine`).
    pub const ENGINE: &str = "engine";
    /// Whether the function keeps metrics (`on`, the default, or `off`).
    pub const METRICS: &str = "metrics";
    /// One scored row in this many is counted in the live drift histograms (default 32).
    pub const DRIFT_SAMPLE: &str = "drift_sample";
    /// Request logs: `off` (default), `on`, or `payload` (with rows and predictions).
    pub const REQUEST_LOG: &str = "request_log";
    /// One request in this many logs its rows and predictions (default 1).
    pub const REQUEST_LOG_SAMPLE: &str = "request_log_sample";
    /// Comma-separated input columns never written to the request log.
    pub const REQUEST_LOG_DENY: &str = "request_log_deny";
    /// A second model, `NAME@VERSION` or `NAME@ALIAS` from the same registry: the candidate of
    /// an A/B test, canary or shadow deployment.
    pub const CANDIDATE: &str = "candidate";
    /// The candidate as a bundle directory in the component's filesystem.
    pub const CANDIDATE_BUNDLE_DIR: &str = "candidate_bundle_dir";
    /// The candidate's share of the traffic: `0.2` or `20%`.
    pub const CANDIDATE_SHARE: &str = "candidate_share";
    /// What traffic is split on: `column:NAME`, `header:NAME` or `random` (default).
    pub const SPLIT_KEY: &str = "split_key";
    /// `split` (default: the candidate answers its share) or `shadow` (both score, the primary answers).
    pub const EXPERIMENT_MODE: &str = "experiment_mode";
    /// The `iss` a bearer JWT must carry.
    pub const JWT_ISSUER: &str = "jwt_issuer";
    /// The `aud` a bearer JWT must carry (or contain).
    pub const JWT_AUDIENCE: &str = "jwt_audience";
    /// A JWKS document (JSON) with the keys bearer JWTs are signed with.
    pub const JWT_JWKS: &str = "jwt_jwks";
    /// A URL to fetch the JWKS document from (read again when a token names an unknown `kid`).
    pub const JWT_JWKS_URL: &str = "jwt_jwks_url";
    /// An HS256 shared secret bearer JWTs may be signed with.
    pub const JWT_SECRET: &str = "jwt_secret";
}

/// Who reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The scoring function on every platform (component variable and environment variable).
    Runtime,
    /// The `scorelet` command line.
    Cli,
    /// The build and test scripts.
    Scripts,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable.
    pub env: &'static str,
    /// The component variable, for runtime settings.
    pub variable: Option<&'static str>,
    pub scope: Scope,
    /// Where it is read.
    pub read_by: &'static str,
    /// What it means: one meaning everywhere.
    pub meaning: &'static str,
}

const fn runtime(env: &'static str, variable: &'static str, read_by: &'static str, meaning: &'static str) -> Setting {
    Setting { env, variable: Some(variable), scope: Scope::Runtime, read_by, meaning }
}

const fn other(env: &'static str, scope: Scope, read_by: &'static str, meaning: &'static str) -> Setting {
    Setting { env, variable: None, scope, read_by, meaning }
}

/// Every setting scorelet reads.
pub const SETTINGS: &[Setting] = &[
    runtime(
        "SCORELET_MODEL",
        var::MODEL,
        "component, Lambda, worker, `serve --model`",
        "`NAME@VERSION` or `NAME@ALIAS` to fetch from the registry at cold start",
    ),
    runtime(
        "SCORELET_REGISTRY_URL",
        var::REGISTRY_URL,
        "component, Lambda, worker, every CLI registry command",
        "base URL of the registry, e.g. `http://127.0.0.1:8700`",
    ),
    runtime(
        "SCORELET_REGISTRY_READ_TOKEN",
        var::REGISTRY_READ_TOKEN,
        "component, Lambda, worker, `serve`, `registry serve`",
        "the registry's read token: sent on reads by runtimes; required on reads by `registry serve` when set",
    ),
    runtime(
        "SCORELET_REGISTRY_PUBLIC_KEY",
        var::REGISTRY_PUBLIC_KEY,
        "component, Lambda, worker, `serve --model`, `pull`",
        "the publisher's Ed25519 public key (64 hex digits, `scorelet keygen`): bundles fetched from the registry must be signed with it (`push --sign`), else they are refused",
    ),
    runtime(
        "SCORELET_API_KEY",
        var::API_KEY,
        "component, Lambda, worker, `serve`",
        "key required on scoring and metadata routes (`Authorization: Bearer` or `X-API-Key`)",
    ),
    runtime(
        "SCORELET_JWT_ISSUER",
        var::JWT_ISSUER,
        "component, Lambda, worker, `serve`",
        "bearer JWTs on scoring and metadata routes must have this `iss` (required with any JWT key setting)",
    ),
    runtime(
        "SCORELET_JWT_AUDIENCE",
        var::JWT_AUDIENCE,
        "component, Lambda, worker, `serve`",
        "bearer JWTs must have this `aud` (or an `aud` list holding it; required with any JWT key setting)",
    ),
    runtime(
        "SCORELET_JWT_JWKS",
        var::JWT_JWKS,
        "component, Lambda, worker, `serve --jwt-jwks FILE`",
        "a JWKS document (JSON text) with the RS256 (2048 bits or more), EdDSA (Ed25519) or HS256 keys JWTs are signed with",
    ),
    runtime(
        "SCORELET_JWT_JWKS_URL",
        var::JWT_JWKS_URL,
        "component, Lambda, worker, `serve`",
        "URL of the issuer's JWKS document, fetched at the first request and again (at most every 30 s) when a token names a `kid` it lacks",
    ),
    runtime(
        "SCORELET_JWT_SECRET",
        var::JWT_SECRET,
        "component, Lambda, worker, `serve --jwt-secret-file`",
        "an HS256 shared secret (32 bytes or more) JWTs may be signed with; JWTs are accepted beside the API key, either opens the routes",
    ),
    runtime(
        "SCORELET_BUNDLE_DIR",
        var::BUNDLE_DIR,
        "component, Lambda, `serve --bundle`",
        "a bundle directory to load instead of fetching (Lambda: default `bundle/` in the package)",
    ),
    runtime(
        "SCORELET_ENGINE",
        var::ENGINE,
        "component, Lambda, worker, `serve`, `predict`, `features`, `check`",
        "the engine that runs the model: `auto` (default: compiled when the graph allows, else tract), `compiled` (an error naming the node it lacks) or `tract`",
    ),
    runtime(
        "SCORELET_METRICS",
        var::METRICS,
        "component, Lambda, worker, `serve`",
        "`on` (default) or `off`: request, latency and drift metrics (`GET /metrics`, `/v2/models/{name}/stats`, Lambda's EMF lines, the worker's log lines)",
    ),
    runtime(
        "SCORELET_DRIFT_SAMPLE",
        var::DRIFT_SAMPLE,
        "component, Lambda, worker, `serve`",
        "one scored row in this many is counted in the live drift histograms, and the requests that hold one are timed by stage (default 32; 1 counts every row)",
    ),
    runtime(
        "SCORELET_REQUEST_LOG",
        var::REQUEST_LOG,
        "component, Lambda, `serve`",
        "`off` (default), `on` (one JSON line per request: time, request id, model, variant, route, status, code, rows, latency) or `payload` (with the rows and predictions); needs metrics on",
    ),
    runtime(
        "SCORELET_REQUEST_LOG_SAMPLE",
        var::REQUEST_LOG_SAMPLE,
        "component, Lambda, `serve`",
        "with `payload`: one request in this many logs its rows and predictions (default 1)",
    ),
    runtime(
        "SCORELET_REQUEST_LOG_DENY",
        var::REQUEST_LOG_DENY,
        "component, Lambda, `serve`",
        "comma-separated input columns never written to the request log (personal data)",
    ),
    runtime(
        "SCORELET_CANDIDATE",
        var::CANDIDATE,
        "component, Lambda, worker, `serve --candidate`",
        "a second model, `NAME@VERSION` or `NAME@ALIAS` from the same registry, for an A/B test, a canary or a shadow deployment; a candidate that does not load leaves all traffic on the primary (retried after a backoff)",
    ),
    runtime(
        "SCORELET_CANDIDATE_BUNDLE_DIR",
        var::CANDIDATE_BUNDLE_DIR,
        "component, Lambda, `serve --candidate-bundle`",
        "the candidate as a bundle directory in the component's filesystem",
    ),
    runtime(
        "SCORELET_CANDIDATE_SHARE",
        var::CANDIDATE_SHARE,
        "component, Lambda, worker, `serve`",
        "the candidate's share of the traffic, `0.2` or `20%` (required with a candidate in `split` mode); raising it keeps every key that already reached the candidate there",
    ),
    runtime(
        "SCORELET_SPLIT_KEY",
        var::SPLIT_KEY,
        "component, Lambda, worker, `serve`",
        "what traffic is split on: `column:NAME` (an input or ignored column, row by row), `header:NAME` (a request header) or `random` (default); the same key goes to the same model on every platform, and requests without it split at random",
    ),
    runtime(
        "SCORELET_EXPERIMENT_MODE",
        var::EXPERIMENT_MODE,
        "component, Lambda, worker, `serve`",
        "`split` (default: the candidate answers its share) or `shadow` (both models score every row, the primary answers, the request log gets both)",
    ),
    other(
        "SCORELET_REQUEST_LOG_FILE",
        Scope::Cli,
        "`serve`",
        "write the request log to this file, rotated at `--request-log-max-bytes` (default 100 MB; 5 old files kept), instead of stdout",
    ),
    other(
        "SCORELET_REGISTRY_TOKEN",
        Scope::Cli,
        "`push`, `alias`, `promote`, `registry serve`",
        "the registry's write token: sent by the write commands, required on writes by `registry serve`",
    ),
    other(
        "SCORELET_COMPONENT",
        Scope::Cli,
        "`serve`, Lambda",
        "a scoring component file to run instead of the built-in one (Lambda: default `scorelet.wasm`)",
    ),
    other(
        "SCORELET_CACHE",
        Scope::Cli,
        "`serve`",
        "directory of compiled components (default `~/.cache/scorelet/compiled`)",
    ),
    other(
        "SCORELET_TLS_CERT",
        Scope::Cli,
        "`serve`, `registry serve`",
        "PEM certificate chain to serve HTTPS with (with `SCORELET_TLS_KEY`; `--tls-cert`)",
    ),
    other(
        "SCORELET_TLS_KEY",
        Scope::Cli,
        "`serve`, `registry serve`",
        "PEM private key of the TLS certificate (`--tls-key`)",
    ),
    other(
        "SCORELET_CA_CERT",
        Scope::Cli,
        "every CLI registry command, `serve`, Lambda",
        "PEM CA certificates for a private CA: the registry commands trust them for an `https` registry instead of the built-in web roots; `serve` and the Lambda bootstrap let the component's own fetches (registry, JWKS URL) trust them beside the web roots (`--ca-cert`)",
    ),
    other("SCORELET_LOG", Scope::Cli, "CLI, Lambda", "log filter, e.g. `info` or `scorelet=debug` (default `warn`)"),
    other(
        "SCORELET_COMPONENTS",
        Scope::Scripts,
        "building the CLI",
        "directory of the components to build into `scorelet` (default: the target directory's)",
    ),
    other(
        "CARGO_TARGET_DIR",
        Scope::Scripts,
        "scripts, tests",
        "where builds go (scripts default: `~/.cache/scorelet/target`)",
    ),
    other("SCORELET_TOOLS", Scope::Scripts, "scripts", "where pinned tools are installed (`~/.cache/scorelet/tools`)"),
    other(
        "SCORELET_TEST_ALL",
        Scope::Scripts,
        "tests",
        "set by `scripts/test.sh`: tests that need wasm builds, Node, Chromium or workerd fail instead of skipping",
    ),
    other("SCORELET_WASI_WASM", Scope::Scripts, "scripts, tests", "the built WASI command component"),
    other("SCORELET_WEB_NODE", Scope::Scripts, "scripts, tests", "the built web package for Node"),
    other("SCORELET_WEB_PKG", Scope::Scripts, "scripts, tests", "the built web packages for browsers and workers"),
    other("SCORELET_SITE", Scope::Scripts, "scripts, tests", "the assembled demo page"),
    other("SCORELET_WORKER", Scope::Scripts, "scripts", "the assembled worker"),
    other(
        "SCORELET_CHROMIUM",
        Scope::Scripts,
        "browser test and benchmark",
        "the Chromium binary (default `chromium`)",
    ),
    other(
        "SCORELET_BENCH_BUNDLES",
        Scope::Scripts,
        "`cargo bench`",
        "`label=DIR,…`: the bundles the criterion benches score",
    ),
];

/// The setting named `env`, if scorelet reads it.
pub fn setting(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The table as Markdown, as `doc/configuration.md` shows it.
pub fn markdown() -> String {
    let mut out =
        String::from("| environment variable | component variable | read by | meaning |\n|---|---|---|---|\n");
    for s in SETTINGS {
        let var = s.variable.map(|v| format!("`{v}`")).unwrap_or_default();
        out.push_str(&format!("| `{}` | {var} | {} | {} |\n", s.env, s.read_by, s.meaning));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_rule() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(SETTINGS[i + 1..].iter().all(|t| t.env != s.env), "{} twice", s.env);
            if let Some(v) = s.variable {
                assert_eq!(s.env, format!("SCORELET_{}", v.to_ascii_uppercase()), "the rule between names");
            }
            assert_eq!(s.variable.is_some(), s.scope == Scope::Runtime);
        }
        assert_eq!(setting("SCORELET_REGISTRY_URL").unwrap().variable, Some(var::REGISTRY_URL));
        assert!(setting("SCORELET_REGISTRY").is_none(), "one name for the registry URL");
    }
}
