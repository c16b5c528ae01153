//! HTTPS on both servers with a private CA: `scorelet registry serve` and `scorelet serve` with
//! `--tls-cert/--tls-key`; the clients verify the certificate (`--ca-cert` trusts the private
//! CA; without it, or with another CA, they refuse); plain HTTP to a TLS port gets no answer;
//! a key that does not match its certificate stops the server with a clear error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{Registry, Server, TOKEN, repo, support, train};
use serde_json::Value as Json;

/// A CA and a certificate it signed for 127.0.0.1, as PEM files: (ca.pem, cert.pem, key.pem).
fn pki(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let paths =
        (dir.join(format!("{name}-ca.pem")), dir.join(format!("{name}-cert.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn cli(registry: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(args)
        .env("SCORELET_REGISTRY_URL", registry)
        .env("SCORELET_REGISTRY_TOKEN", TOKEN)
        .current_dir(repo())
        .output()
        .unwrap()
}

/// An agent trusting only the CA in `ca`.
fn agent_trusting(ca: &Path) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let pem = std::fs::read(ca).unwrap();
    let roots = vec![Certificate::from_pem(&pem).unwrap().to_owned()];
    let tls = TlsConfig::builder().root_certs(RootCerts::Specific(Arc::new(roots))).build();
    ureq::Agent::config_builder().http_status_as_error(false).tls_config(tls).build().into()
}

#[test]
fn the_registry_over_https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path(), "ours");
    let (other_ca, _, other_key) = pki(dir.path(), "other");
    let bundle = train(dir.path());
    let registry = Registry::start_with(
        &dir.path().join("root"),
        "127.0.0.1:0",
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    assert!(registry.url.starts_with("https://127.0.0.1:"), "{}", registry.url);

    // Trusting our CA: push and pull work, the pull verifies every file as over http.
    let ca_arg = ["--ca-cert", ca.to_str().unwrap()];
    let out = cli(&registry.url, &[&["push", "--bundle", bundle.to_str().unwrap()][..], &ca_arg].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pulled = dir.path().join("pulled");
    let out = cli(&registry.url, &[&["pull", "churn@1", "--out", pulled.to_str().unwrap()][..], &ca_arg].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(pulled.join("manifest.json").is_file());

    // The built-in web roots do not know our CA; another CA is not ours.
    for extra in [&[][..], &["--ca-cert", other_ca.to_str().unwrap()][..]] {
        let out = cli(&registry.url, &[&["models"][..], extra].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "an untrusted certificate was accepted ({extra:?})");
        assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{extra:?}: {err}");
    }

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = registry.url.replace("https://", "http://");
    assert!(common::agent().get(&format!("{plain}/v1/models")).call().is_err(), "plain http was answered");

    // A key that is not the certificate's: the server refuses to start, saying so.
    let out = Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["registry", "serve", "--root", dir.path().join("root2").to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .args(["--tls-cert", cert.to_str().unwrap(), "--tls-key", other_key.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("do not go together"), "{err}");
    // Half a pair, or a file that is not PEM.
    let out = Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["registry", "serve", "--root", dir.path().join("root3").to_str().unwrap()])
        .args(["--tls-cert", bundle.join("manifest.json").to_str().unwrap(), "--tls-key", key.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("holds no PEM certificate"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["registry", "serve", "--root", dir.path().join("root4").to_str().unwrap()])
        .args(["--tls-cert", cert.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--tls-cert and --tls-key go together"), "{err}");
}

#[test]
fn scoring_over_https() {
    let Some(_) = support::spin_component("scoring_over_https", false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path(), "ours");
    let (other_ca, _, _) = pki(dir.path(), "other");
    let bundle = train(dir.path());
    let server = Server::start(&[
        "--bundle",
        bundle.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let records = common::telco_records(3);
    let body = serde_json::json!({"dataframe_records": records}).to_string();
    let mut resp = agent_trusting(&ca)
        .post(&format!("{}/invocations", server.url))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Json = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(answer["predictions"].as_array().map(Vec::len), Some(3), "{answer}");
    // Another CA, and plain HTTP, get nothing.
    assert!(agent_trusting(&other_ca).get(&format!("{}/v2/health/live", server.url)).call().is_err());
    let plain = server.url.replace("https://", "http://");
    assert!(common::agent().get(&format!("{plain}/v2/health/live")).call().is_err(), "plain http was answered");
}

/// The component's own fetches (the bundle from `--model`, the keys from `--jwt-jwks-url`)
/// reach an https registry behind a private CA once `serve --ca-cert` trusts it, on both WASI
/// versions; without it, or trusting another CA, the model does not load and the reason says
/// it is the certificate.
#[test]
fn the_component_trusts_a_private_ca_for_its_own_fetches() {
    let test = "the_component_trusts_a_private_ca_for_its_own_fetches";
    let (Some(p3), Some(p2)) = (support::spin_component(test, false), support::spin_component(test, true)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path(), "ours");
    let (other_ca, _, _) = pki(dir.path(), "other");
    let bundle = train(dir.path());
    // The registry also serves the issuer's JWKS document as a static file.
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/jwt");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::copy(fixtures.join("jwks.json"), site.join("jwks.json")).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html>").unwrap();
    let token = std::fs::read_to_string(fixtures.join("eddsa.jwt")).unwrap().trim().to_string();
    let registry = Registry::start_with(
        &dir.path().join("root"),
        "127.0.0.1:0",
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(), "--site", site.to_str().unwrap()],
    );
    let out = cli(&registry.url, &["push", "--bundle", bundle.to_str().unwrap(), "--ca-cert", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jwks_url = format!("{}/jwks.json", registry.url);
    let body = serde_json::json!({"dataframe_records": common::telco_records(3)}).to_string();

    for component in [&p3, &p2] {
        let c = component.to_str().unwrap();
        let server = Server::start(&[
            "--model",
            "churn@1",
            "--registry",
            &registry.url,
            "--component",
            c,
            "--ca-cert",
            ca.to_str().unwrap(),
            "--jwt-jwks-url",
            &jwks_url,
            "--jwt-issuer",
            "https://id.example",
            "--jwt-audience",
            "scorelet",
        ]);
        let (status, ready) = server.get("/v2/health/ready");
        assert_eq!(status, 200, "{c}: {ready}\n{}", server.log());
        let url = format!("{}/invocations", server.url);
        let headers = [("content-type", "application/json"), ("authorization", &format!("Bearer {token}"))];
        let (status, answer) = common::request("POST", &url, &headers, body.as_bytes());
        assert_eq!(status, 200, "{c}: {answer}\n{}", server.log());
        assert_eq!(answer["predictions"].as_array().map(Vec::len), Some(3), "{answer}");
        assert_eq!(answer["model"]["version"], "1");
    }

    // The web roots alone (WASI 0.2), or another CA (WASI 0.3): the certificate is refused, the
    // model never loads, and both components say what to do.
    for extra in [&["--component", p2.to_str().unwrap()][..], &["--ca-cert", other_ca.to_str().unwrap()][..]] {
        let server = Server::start(&[&["--model", "churn@1", "--registry", &registry.url][..], extra].concat());
        let (status, ready) = server.get("/v2/health/ready");
        assert_eq!(status, 503, "{extra:?}: an untrusted certificate was accepted: {ready}");
        let msg = ready["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("certificate is not trusted") && msg.contains("--ca-cert"), "{extra:?}: {ready}");
    }
    // A CA file that is not PEM, is empty, is missing or holds a certificate that is not one
    // stops `serve` at start, saying which.
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path().join("missing.pem");
    for (file, why) in [
        (bundle.join("manifest.json"), "holds no PEM certificate"),
        (empty, "holds no PEM certificate"),
        (missing, "cannot read CA certificates"),
        (garbage, "cannot be trusted"),
    ] {
        let err = common::fails(&["serve", "--model", "churn@1", "--ca-cert", file.to_str().unwrap()]);
        assert!(err.contains(why), "{}: {err}", file.display());
    }
}
