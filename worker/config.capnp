# workerd configuration for scorelet's scoring worker.
#
#   node worker/assemble.mjs --pkg PKG --out DIR [--bundle BUNDLE]   # copies this file beside the code
#   SCORELET_MODEL=churn@production SCORELET_REGISTRY_URL=http://127.0.0.1:8090 \
#     workerd serve DIR/config.capnp --socket-addr http=127.0.0.1:8787
#
# With an embedded bundle the SCORELET_* variables are not needed.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .scorer),
    # Outbound fetches (the registry). workerd only lets workers reach public addresses by
    # default; a registry on a private network or this machine needs "private" and "local".
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const scorer :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "bundle.mjs", esModule = embed "bundle.mjs"),
    (name = "pkg/scorelet_web.js", esModule = embed "pkg/scorelet_web.js"),
    (name = "pkg/scorelet_web_bg.wasm", wasm = embed "pkg/scorelet_web_bg.wasm"),
  ],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "SCORELET_MODEL", fromEnvironment = "SCORELET_MODEL"),
    (name = "SCORELET_REGISTRY_URL", fromEnvironment = "SCORELET_REGISTRY_URL"),
    (name = "SCORELET_REGISTRY_READ_TOKEN", fromEnvironment = "SCORELET_REGISTRY_READ_TOKEN"),
    (name = "SCORELET_API_KEY", fromEnvironment = "SCORELET_API_KEY"),
    (name = "SCORELET_ENGINE", fromEnvironment = "SCORELET_ENGINE"),
    (name = "SCORELET_REGISTRY_PUBLIC_KEY", fromEnvironment = "SCORELET_REGISTRY_PUBLIC_KEY"),
    (name = "SCORELET_JWT_ISSUER", fromEnvironment = "SCORELET_JWT_ISSUER"),
    (name = "SCORELET_JWT_AUDIENCE", fromEnvironment = "SCORELET_JWT_AUDIENCE"),
    (name = "SCORELET_JWT_JWKS", fromEnvironment = "SCORELET_JWT_JWKS"),
    (name = "SCORELET_JWT_JWKS_URL", fromEnvironment = "SCORELET_JWT_JWKS_URL"),
    (name = "SCORELET_JWT_SECRET", fromEnvironment = "SCORELET_JWT_SECRET"),
    (name = "SCORELET_METRICS", fromEnvironment = "SCORELET_METRICS"),
    (name = "SCORELET_DRIFT_SAMPLE", fromEnvironment = "SCORELET_DRIFT_SAMPLE"),
    (name = "SCORELET_REQUEST_LOG", fromEnvironment = "SCORELET_REQUEST_LOG"),
    (name = "SCORELET_REQUEST_LOG_SAMPLE", fromEnvironment = "SCORELET_REQUEST_LOG_SAMPLE"),
    (name = "SCORELET_REQUEST_LOG_DENY", fromEnvironment = "SCORELET_REQUEST_LOG_DENY"),
    (name = "SCORELET_CANDIDATE", fromEnvironment = "SCORELET_CANDIDATE"),
    (name = "SCORELET_CANDIDATE_SHARE", fromEnvironment = "SCORELET_CANDIDATE_SHARE"),
    (name = "SCORELET_SPLIT_KEY", fromEnvironment = "SCORELET_SPLIT_KEY"),
    (name = "SCORELET_EXPERIMENT_MODE", fromEnvironment = "SCORELET_EXPERIMENT_MODE"),
  ],
);
