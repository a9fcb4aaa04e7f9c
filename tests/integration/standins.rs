//! Issue 14's false alarms on real ML code, driven through the built binary: one first commit
//! holding the stand-ins the ML corpus showed (an elided key in a notebook's output, a pagination
//! token, OAuth mocks in tests, a Kubernetes Secret whose base64 decodes to a word and to an
//! example, a claimless JWT, an env-var name as a URL password, an i18n string) and one real token
//! among them. Only the real token is reported: the stand-in checks hide nothing else.

use crate::harness::*;

const NOTEBOOK: &str = r#"{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": 1,
   "metadata": {},
   "outputs": [
    {
     "name": "stdout",
     "output_type": "stream",
     "text": [
      "client configured with OPENAI_API_KEY=sk-proj-KRhQGk3rkAjiiDYtayeuw9SHtIRIKMMf70xk9...\n",
      "{\"nextPageToken\": \"CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA\"}\n"
     ]
    }
   ],
   "source": ["client = make_client()\n", "print(client.describe())"]
  }
 ],
 "metadata": {},
 "nbformat": 4,
 "nbformat_minor": 5
}
"#;

const SECRET_YAML: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n\
                           data:\n  username: cG9zdGdyZXM=\n  password: ZXhhbXBsZS1hcHAtc2VjcmV0\n";

/// {"alg":"HS256","typ":"JWT"} . {"name":"widget","n":3} . signature
const CLAIMLESS_JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoid2lkZ2V0IiwibiI6M30.\
                             zqpTdwsqZAdbPhaEi3YnjcgnG2xbYkWmvaWscdlWtsS";

#[test]
fn stand_ins_from_ml_code_are_not_reported_and_the_real_token_among_them_is() {
    let r = TestRepo::new();
    r.stage("notebooks/demo.ipynb", NOTEBOOK);
    r.stage(
        "tests/test_auth.py",
        "def test_refresh(mock):\n    \
         mock.return_value = {\"access_token\": \"hf_oauth_123\", \"expires_in\": 600}\n    \
         other = {\"access_token\": \"sk-ant-oat01-file\"}\n",
    );
    r.stage("deploy/secret.yaml", SECRET_YAML);
    r.stage(
        "app/settings.py",
        format!(
            "DATABASE_URL = \"postgresql://app:WAREHOUSEREPLICA_PASSWORD2@db.internal:5432/app\"\n\
             session = {{\"token\": \"{CLAIMLESS_JWT}\"}}\n"
        ),
    );
    r.stage(
        "static/i18n-sv.js",
        "export default {login:{password:`Lösenord`,username:`Användarnamn`}};\n",
    );
    r.stage("app/config.py", format!("HF_TOKEN = \"{HF_A}\"\n"));
    let v = r.check_json(1);
    assert_eq!(finding_field(&v, "rule"), ["huggingface-token"], "{v:#}");
    assert_eq!(finding_field(&v, "path"), ["app/config.py"], "{v:#}");
}
