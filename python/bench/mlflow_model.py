"""Trains the scikit-learn pipeline a team would log to MLflow for the Telco data (impute, scale,
one-hot, then logistic regression or an MLP) and saves it as an MLflow model directory for
`mlflow models serve`.
    python mlflow_model.py data/telco-churn.csv logreg|mlp OUT_DIR"""

import sys

import mlflow.sklearn
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

data, kind, out = sys.argv[1:4]
df = pd.read_csv(data)
y = (df.pop("Churn") == "Yes").astype(int)
df = df.drop(columns=["customerID"])
df["TotalCharges"] = pd.to_numeric(df["TotalCharges"], errors="coerce")
numeric = ["tenure", "MonthlyCharges", "TotalCharges", "SeniorCitizen"]
categorical = [c for c in df.columns if c not in numeric]
pre = ColumnTransformer(
    [
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
    ]
)
model = LogisticRegression(max_iter=1000) if kind == "logreg" else MLPClassifier((32, 16), max_iter=300, random_state=0)
pipe = make_pipeline(pre, model).fit(df, y)
mlflow.sklearn.save_model(pipe, out, input_example=df.head(2), serialization_format="cloudpickle", pyfunc_predict_fn="predict_proba")
