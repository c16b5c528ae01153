"""The scikit-learn peer of the bounded-memory training run: `pd.read_csv` of the whole file and
a Pipeline (impute + standardize numerics, one-hot categoricals) fitted with LogisticRegression,
the same model family and features as `scorelet train --model linear` with examples/telco.toml.

    python train_memory_peer.py DATA.csv
Prints the holdout ROC-AUC; run it under `/usr/bin/time -v` for peak RSS.
"""
import sys

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

df = pd.read_csv(sys.argv[1])
df["TotalCharges"] = pd.to_numeric(df["TotalCharges"], errors="coerce")
y = (df.pop("Churn") == "Yes").astype(int)
df = df.drop(columns=["customerID"])
numeric = ["tenure", "MonthlyCharges", "TotalCharges", "SeniorCitizen"]
categorical = [c for c in df.columns if c not in numeric]
pre = ColumnTransformer([
    ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
])
x_train, x_test, y_train, y_test = train_test_split(df, y, test_size=0.15, random_state=0, stratify=y)
model = make_pipeline(pre, LogisticRegression(max_iter=200)).fit(x_train, y_train)
print(f"roc_auc {roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]):.4f}")
