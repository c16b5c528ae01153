//! The feature pipeline: spec validation, fit, transform and its error cases, on small inputs
//! whose right answers can be worked out by hand, plus `spec infer` on the Telco data.

mod common;

use proptest::prelude::*;
use scorelet::Error;
use scorelet::error::InputError;
use scorelet::features::{FeatureSpec, FittedFeatures, Fitter, Kind, Pipeline, fnv1a, infer_spec};
use scorelet::value::Value::{self, Bool, Missing, Number, Text};

fn fit(spec: &str, rows: Vec<Vec<Value>>) -> Pipeline {
    let spec = FeatureSpec::from_toml(spec).unwrap();
    let mut f = Fitter::new(&spec).unwrap();
    for (i, r) in rows.iter().enumerate() {
        f.push(r, i).unwrap();
    }
    Pipeline::new(f.finish().unwrap()).unwrap()
}

fn t(s: &str) -> Value {
    Text(s.into())
}

#[test]
fn spec_errors_name_the_problem() {
    let cases = [
        ("[[column]]\nname = \"a\"\nkind = \"numeric\"\nscale = 2\n", "unknown field `scale`"),
        ("[[column]]\nname = \"a\"\nkind = \"text\"\n", "unknown variant `text`"),
        ("", "no [[column]] entries"),
        (
            "[[column]]\nname = \"a\"\nkind = \"numeric\"\n[[column]]\nname = \"a\"\nkind = \"numeric\"\n",
            "listed twice",
        ),
        (
            "[[column]]\nname = \"a\"\nkind = \"numeric\"\ntransforms = [{op = \"bucketize\", edges = [1.0]}, {op = \"log1p\"}]\n",
            "bucketize must be the last",
        ),
        (
            "[[column]]\nname = \"a\"\nkind = \"numeric\"\ntransforms = [{op = \"clip\", min = 2, max = 1}]\n",
            "clip min > max",
        ),
        ("[[column]]\nname = \"a\"\nkind = \"categorical\"\ntransforms = [{op = \"log1p\"}]\n", "numeric columns only"),
        (
            "[[column]]\nname = \"a\"\nkind = \"categorical\"\nmissing = {strategy = \"mean\"}\n",
            "needs a numeric column",
        ),
        ("ignore = [\"a\"]\n[[column]]\nname = \"a\"\nkind = \"numeric\"\n", "both an input and in `ignore`"),
    ];
    for (text, want) in cases {
        let err = FeatureSpec::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(want), "spec {text:?}: error {err:?} should mention {want:?}");
    }
}

#[test]
fn numeric_imputation_steps_and_indicator() {
    let p = fit(
        "[[column]]\nname = \"x\"\nkind = \"numeric\"\nmissing = {strategy = \"median\"}\nmissing_indicator = true\ntransforms = [{op = \"standardize\"}]\n",
        vec![vec![t("1")], vec![t("2")], vec![t("3")], vec![t("?")], vec![t("  ")]],
    );
    // Median 2 fills the two missing rows; standardize is fitted on [1, 2, 3, 2, 2].
    let sd = (0.4f64).sqrt() as f32;
    assert_eq!(p.feature_names(), ["x", "x__missing"]);
    assert_eq!(p.transform(&[t("2")], 0).unwrap(), vec![0.0, 0.0]);
    assert_eq!(p.transform(&[Missing], 0).unwrap(), vec![0.0, 1.0]);
    assert_eq!(p.transform(&[t("NA")], 0).unwrap(), vec![0.0, 1.0]);
    assert_eq!(p.transform(&[Number(3.0)], 0).unwrap(), vec![1.0 / sd, 0.0]);
    // CSV text and a JSON number of the same value give the same bits.
    assert_eq!(p.transform(&[t("29.85")], 0).unwrap(), p.transform(&[Number(29.85)], 0).unwrap());
}

#[test]
fn numeric_bad_values_are_typed_errors() {
    let p = fit(
        "[[column]]\nname = \"amount\"\nkind = \"numeric\"\ntransforms = [{op = \"log1p\"}]\n",
        vec![vec![t("1")], vec![t("10")]],
    );
    let e = p.transform(&[t("abc")], 4).unwrap_err();
    assert!(
        matches!(&e, Error::Input { row: 4, column, kind: InputError::WrongType { .. } } if column == "amount"),
        "{e}"
    );
    assert_eq!(e.to_string(), "row 4, column `amount`: expected a number, got string \"abc\"");
    assert!(matches!(p.transform(&[t("inf")], 0), Err(Error::Input { kind: InputError::NonFinite { .. }, .. })));
    assert!(
        matches!(p.transform(&[Number(1e39)], 0), Err(Error::Input { kind: InputError::NonFinite { .. }, .. })),
        "overflows f32"
    );
    assert!(matches!(p.transform(&[Bool(true)], 0), Err(Error::Input { kind: InputError::WrongType { .. }, .. })));
    let e = p.transform(&[Number(-3.0)], 1).unwrap_err();
    assert!(matches!(e, Error::Input { row: 1, kind: InputError::OutOfDomain { .. }, .. }), "{e}");
    let strict =
        fit("[[column]]\nname = \"a\"\nkind = \"numeric\"\nmissing = {strategy = \"error\"}\n", vec![vec![t("1")]]);
    assert!(matches!(
        strict.transform(&[Missing], 2),
        Err(Error::Input { row: 2, kind: InputError::MissingValue, .. })
    ));
}

#[test]
fn one_hot_vocabulary_limits_and_unknowns() {
    let rows: Vec<Vec<Value>> = ["a", "a", "a", "b", "b", "c"].iter().map(|s| vec![t(s)]).collect();
    let p = fit(
        "[[column]]\nname = \"k\"\nkind = \"categorical\"\nencoding = {type = \"one_hot\", min_frequency = 2}\n",
        rows.clone(),
    );
    assert_eq!(p.feature_names(), ["k=a", "k=b", "k=__unknown__"]);
    assert_eq!(p.transform(&[t("b")], 0).unwrap(), vec![0.0, 1.0, 0.0]);
    assert_eq!(p.transform(&[t("c")], 0).unwrap(), vec![0.0, 0.0, 1.0], "rare category shares the unknown slot");
    assert_eq!(p.transform(&[t("zzz")], 0).unwrap(), vec![0.0, 0.0, 1.0]);
    assert_eq!(p.transform(&[Missing], 0).unwrap(), vec![1.0, 0.0, 0.0], "missing → most frequent");
    let p = fit(
        "[[column]]\nname = \"k\"\nkind = \"categorical\"\nencoding = {type = \"one_hot\", max_categories = 1}\nunknown = \"error\"\n",
        rows,
    );
    assert_eq!(p.feature_names(), ["k=a"]);
    let e = p.transform(&[t("b")], 3).unwrap_err();
    assert!(
        matches!(&e, Error::Input { row: 3, kind: InputError::UnknownCategory { value, .. }, .. } if value == "b"),
        "{e}"
    );
}

#[test]
fn hashing_ordinal_and_boolean_encodings() {
    assert_eq!(fnv1a(""), 0x811c_9dc5);
    assert_eq!(fnv1a("a"), 0xe40c_292c);
    assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
    let p = fit(
        "[[column]]\nname = \"h\"\nkind = \"categorical\"\nencoding = {type = \"hash\", buckets = 8}\n",
        vec![vec![t("x")]],
    );
    let v = p.transform(&[t("foobar")], 0).unwrap();
    assert_eq!(v.len(), 8);
    assert_eq!(v[(0xbf9c_f968u32 % 8) as usize], 1.0);
    assert_eq!(v.iter().sum::<f32>(), 1.0);
    let p = fit(
        "[[column]]\nname = \"size\"\nkind = \"categorical\"\nencoding = {type = \"ordinal\", categories = [\"S\", \"M\", \"L\"]}\n",
        vec![vec![t("M")]],
    );
    assert_eq!(p.transform(&[t("L")], 0).unwrap(), vec![2.0]);
    assert_eq!(p.transform(&[t("XL")], 0).unwrap(), vec![3.0], "unknown → one past the last");
    assert_eq!(p.transform(&[Number(1.0)], 0).unwrap(), vec![3.0], "JSON 1 is category \"1\"");
    let p = fit("[[column]]\nname = \"b\"\nkind = \"boolean\"\n", vec![vec![t("Yes")], vec![t("No")], vec![t("yes")]]);
    for (v, want) in [(t("YES"), 1.0), (t("n"), 0.0), (Bool(true), 1.0), (Number(0.0), 0.0), (Missing, 1.0)] {
        assert_eq!(p.transform(std::slice::from_ref(&v), 0).unwrap(), vec![want], "{v:?}");
    }
    assert!(matches!(p.transform(&[t("maybe")], 0), Err(Error::Input { kind: InputError::WrongType { .. }, .. })));
}

#[test]
fn bucketize_with_quantiles() {
    let rows = (0..100).map(|i| vec![Number(i as f64)]).collect();
    let p = fit(
        "[[column]]\nname = \"age\"\nkind = \"numeric\"\ntransforms = [{op = \"bucketize\", quantiles = 4}]\n",
        rows,
    );
    assert_eq!(p.feature_names(), ["age[<25]", "age[25,50)", "age[50,75)", "age[>=75]"]);
    assert_eq!(p.transform(&[Number(24.9)], 0).unwrap(), vec![1.0, 0.0, 0.0, 0.0]);
    assert_eq!(p.transform(&[Number(50.0)], 0).unwrap(), vec![0.0, 0.0, 1.0, 0.0]);
    assert_eq!(p.transform(&[Number(1e6)], 0).unwrap(), vec![0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn fit_refuses_columns_it_cannot_fit() {
    let spec = FeatureSpec::from_toml("[[column]]\nname = \"x\"\nkind = \"numeric\"\n").unwrap();
    let mut f = Fitter::new(&spec).unwrap();
    f.push(&[t("")], 0).unwrap();
    f.push(&[t("?")], 1).unwrap();
    let e = f.finish().unwrap_err().to_string();
    assert!(e.contains("column `x`") && e.contains("every value is missing"), "{e}");
    assert!(Fitter::new(&spec).unwrap().finish().unwrap_err().to_string().contains("no training rows"));
    let spec =
        FeatureSpec::from_toml("[[column]]\nname = \"x\"\nkind = \"numeric\"\ntransforms = [{op = \"log1p\"}]\n")
            .unwrap();
    let mut f = Fitter::new(&spec).unwrap();
    f.push(&[t("-5")], 0).unwrap();
    assert!(f.finish().unwrap_err().to_string().contains("add a clip step"));
}

#[test]
fn fitted_json_round_trip_keeps_every_bit() {
    let d = common::telco();
    let all: Vec<usize> = (0..d.table.n_rows()).collect();
    let rows = scorelet_train::rows_for(&d.table, &d.spec, &all).unwrap();
    let fitted = scorelet_train::fit_features_on(&d.table, &d.spec, &all).unwrap();
    let back = FittedFeatures::from_json(&fitted.to_json()).unwrap();
    assert_eq!(back, fitted);
    let (a, b) = (Pipeline::new(fitted).unwrap(), Pipeline::new(back).unwrap());
    for (i, r) in rows.iter().enumerate().take(2000) {
        let (x, y) = (a.transform(r, i).unwrap(), b.transform(r, i).unwrap());
        assert!(x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
    assert_eq!(a.width(), 53);
}

proptest! {
    #[test]
    fn any_f32_parameter_survives_json(mean in any::<f32>().prop_filter("finite", |x| x.is_finite()),
                                       scale in any::<f32>().prop_filter("finite, nonzero", |x| x.is_finite() && *x != 0.0)) {
        let f = FittedFeatures {
            format: 1,
            ignore: vec![],
            columns: vec![scorelet::features::FittedColumn {
                name: "x".into(),
                missing_tokens: vec![],
                transform: scorelet::features::ColumnTransform::Numeric {
                    impute: Some(mean),
                    missing_indicator: false,
                    steps: vec![scorelet::features::Step::Standardize { mean, scale }],
                },
                stats: None,
            }],
        };
        prop_assert_eq!(FittedFeatures::from_json(&f.to_json()).unwrap(), f);
    }
}

#[test]
fn infer_proposes_a_sensible_spec_for_telco() {
    let d = common::telco();
    let (spec, report) = infer_spec(&d.table.header, d.table.rows(), Some("Churn"));
    let kind = |n: &str| spec.columns.iter().find(|c| c.name == n).map(|c| c.kind);
    assert_eq!(spec.ignore, ["customerID", "Churn"]);
    assert_eq!(kind("tenure"), Some(Kind::Numeric));
    assert_eq!(kind("TotalCharges"), Some(Kind::Numeric), "blank cells are missing, not text");
    assert_eq!(kind("SeniorCitizen"), Some(Kind::Boolean));
    assert_eq!(kind("Partner"), Some(Kind::Boolean));
    assert_eq!(kind("Contract"), Some(Kind::Categorical));
    assert_eq!(report.iter().find(|r| r.name == "TotalCharges").unwrap().missing, 11);
    // The proposal is itself a valid spec that fits the data.
    let again = FeatureSpec::from_toml(&spec.to_toml()).unwrap();
    assert_eq!(again, spec);
    scorelet_train::fit_features_on(&d.table, &spec, &(0..500).collect::<Vec<_>>()).unwrap();
}

/// A columnar batch (cells, typed numbers, dictionary-encoded columns, as `predictColumns`
/// takes them) gives the vectors the row-by-row transform gives, and the same error: the first
/// in row order, not the first column that fails.
#[test]
fn columnar_batches_transform_like_rows_and_fail_at_the_same_cell() {
    use scorelet::features::ColumnCells;
    use scorelet::value::ValueRef;
    let dir = common::repo().join("tests/fixtures/bundle");
    let pipeline =
        Pipeline::new(FittedFeatures::from_json(&std::fs::read(dir.join("features.json")).unwrap()).unwrap()).unwrap();
    let names: Vec<String> = pipeline.input_columns().map(str::to_string).collect();
    let mut csv = csv::Reader::from_path(common::repo().join("data/telco-churn.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_string).collect();
    let mut text: Vec<Vec<String>> = csv
        .records()
        .take(300)
        .map(|r| {
            let r = r.unwrap();
            names.iter().map(|n| r[header.iter().position(|h| h == n).unwrap()].to_string()).collect()
        })
        .collect();
    let run = |text: &[Vec<String>]| {
        let rows: Vec<Vec<Value>> = text.iter().map(|r| r.iter().map(|c| t(c)).collect()).collect();
        let by_rows = pipeline.transform_batch(&rows);
        // Column c as cells (c % 3 == 0), as a dictionary (1), or as numbers where every cell
        // is one (2; else a dictionary).
        let cells: Vec<Vec<ValueRef>> =
            (0..names.len()).map(|c| text.iter().map(|r| ValueRef::Text(r[c].as_str())).collect()).collect();
        let dicts: Vec<(Vec<u32>, Vec<ValueRef>)> = cells
            .iter()
            .map(|col| {
                let mut values: Vec<ValueRef> = Vec::new();
                let codes = col
                    .iter()
                    .map(|v| {
                        let k = values.iter().position(|x| x == v).unwrap_or_else(|| {
                            values.push(*v);
                            values.len() - 1
                        });
                        k as u32
                    })
                    .collect();
                (codes, values)
            })
            .collect();
        let numbers: Vec<Option<Vec<f64>>> =
            (0..names.len()).map(|c| text.iter().map(|r| r[c].parse::<f64>().ok()).collect()).collect();
        let columns: Vec<ColumnCells> = (0..names.len())
            .map(|c| match (c % 3, &numbers[c]) {
                (0, _) => ColumnCells::Cells(&cells[c]),
                (2, Some(n)) => ColumnCells::Numbers(n),
                _ => ColumnCells::Dictionary { codes: &dicts[c].0, values: &dicts[c].1 },
            })
            .collect();
        (by_rows, pipeline.transform_columns(&columns))
    };
    let (want, got) = run(&text);
    let want = want.unwrap();
    assert_eq!(
        got.unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );

    // A bad boolean in an early column at row 9, a bad number in a later column at row 5: both
    // report row 5, the first a row-by-row reader meets.
    let partner = names.iter().position(|n| n == "Partner").unwrap();
    let tenure = names.iter().position(|n| n == "tenure").unwrap();
    assert!(partner < tenure);
    text[9][partner] = "maybe".into();
    text[5][tenure] = "five".into();
    let (want, got) = run(&text);
    let (want, got) = (want.unwrap_err(), got.unwrap_err());
    assert_eq!(got.to_string(), want.to_string());
    assert_eq!((got.row(), got.column()), (Some(5), Some("tenure")));

    // A code outside its dictionary names the column and the row.
    let values = [ValueRef::Text("Male")];
    let codes = [1, 0, 0];
    let mut columns: Vec<ColumnCells> = vec![ColumnCells::Numbers(&[1.0, 2.0, 3.0]); names.len()];
    columns[0] = ColumnCells::Dictionary { codes: &codes, values: &values };
    let e = pipeline.transform_columns(&columns).unwrap_err().to_string();
    assert!(e.contains(&format!("column `{}`, row 0: code 1 is outside its dictionary of 1 values", names[0])), "{e}");
    // Columns of different lengths, or too few, are refused.
    columns[1] = ColumnCells::Numbers(&[1.0]);
    assert!(pipeline.transform_columns(&columns).unwrap_err().to_string().contains("has 1 values"));
    assert!(pipeline.transform_columns(&columns[1..]).unwrap_err().to_string().contains("input columns"));
}
