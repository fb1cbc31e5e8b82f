"""deploy/ssh-window.sh, the deploy job's SSH window, without AWS: `aws` and `curl` are fakes
on PATH that record their calls (the AWS API is not what is tested here; the script's choice
of calls and arguments is). The IAM documents in deploy/aws/ are checked for what they allow."""
from __future__ import annotations

import json
import subprocess

import pytest

from deploy_support import REPO

SG = "sg-0123456789abcdef0"

FAKE_AWS = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE/calls"
case "$2" in
  describe-security-group-rules) cat "$FAKE/rules" 2>/dev/null || echo None ;;
  authorize-security-group-ingress) [[ -e $FAKE/bad-authorize ]] && exit 254 ;;
esac
exit 0
"""


@pytest.fixture
def window(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "curl").write_text('#!/usr/bin/env bash\ncat "$FAKE/ip"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (tmp_path / "ip").write_text("203.0.113.7\n")

    def run(*args):
        out = subprocess.run(
            ["bash", str(REPO / "deploy" / "ssh-window.sh"), *args],
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(tmp_path),
                 "GITHUB_RUN_ID": "4242"},
            capture_output=True, text=True, timeout=30)
        calls = (tmp_path / "calls").read_text().splitlines() if (
            tmp_path / "calls").exists() else []
        return out, calls

    run.dir = tmp_path
    return run


def test_open_allows_this_runner_only_on_port_22(window):
    out, calls = window("open", SG)
    assert out.returncode == 0, out.stderr
    assert "port 22 open to 203.0.113.7/32" in out.stdout
    authorize = [c for c in calls if c.startswith("ec2 authorize-security-group-ingress")]
    assert len(authorize) == 1
    permissions = json.loads(authorize[0].split("--ip-permissions ", 1)[1])
    assert permissions == [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [
        {"CidrIp": "203.0.113.7/32", "Description": "binance-svc-ci run 4242"}]}]
    assert f"--group-id {SG}" in authorize[0]


def test_open_first_closes_windows_left_by_a_killed_job(window):
    (window.dir / "rules").write_text("sgr-0aaa\tsgr-0bbb\n")
    out, calls = window("open", SG)
    assert out.returncode == 0, out.stderr
    revoke = next(i for i, c in enumerate(calls) if "revoke-security-group-ingress" in c)
    authorize = next(i for i, c in enumerate(calls) if "authorize-security-group-ingress" in c)
    assert revoke < authorize
    assert calls[revoke].endswith("--security-group-rule-ids sgr-0aaa sgr-0bbb")


def test_close_revokes_only_the_rules_it_made(window):
    (window.dir / "rules").write_text("sgr-0ccc\n")
    out, calls = window("close", SG)
    assert out.returncode == 0, out.stderr
    describe = next(c for c in calls if "describe-security-group-rules" in c)
    # Ingress on 22 described by this script: the operator's own rules are not touched.
    assert f"Name=group-id,Values={SG}" in describe
    assert "!IsEgress && FromPort==`22`" in describe
    assert "starts_with(Description, 'binance-svc-ci')" in describe
    assert calls[-1] == (f"ec2 revoke-security-group-ingress --group-id {SG} "
                         "--security-group-rule-ids sgr-0ccc")


def test_close_with_nothing_open_revokes_nothing(window):
    out, calls = window("close", SG)
    assert out.returncode == 0, out.stderr
    assert not any("revoke" in c for c in calls)


@pytest.mark.parametrize("ip", ["", "2001:db8::1", "<html>rate limited</html>"])
def test_open_refuses_an_address_it_cannot_read(window, ip):
    (window.dir / "ip").write_text(ip)
    out, calls = window("open", SG)
    assert out.returncode == 1 and "not an IPv4 address" in out.stderr
    assert not any("authorize" in c for c in calls)


@pytest.mark.parametrize("args", [[], ["open"], ["open", "sg-xyz"], ["close", SG, "extra"],
                                  ["delete", SG], ["open", "sg-123; id"]])
def test_bad_arguments_are_refused_before_any_call(window, args):
    out, calls = window(*args)
    assert out.returncode == 1 and "ssh-window:" in out.stderr
    assert calls == []


def test_failed_authorize_fails_the_step(window):
    (window.dir / "bad-authorize").write_text("")
    out, _ = window("open", SG)
    assert out.returncode != 0


def test_the_role_can_touch_one_security_group_and_nothing_else():
    policy = json.loads((REPO / "deploy" / "aws" / "ssh-window-policy.json").read_text())
    allowed = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        for action in actions:
            allowed[action] = statement["Resource"]
    assert allowed.keys() == {"ec2:AuthorizeSecurityGroupIngress",
                              "ec2:RevokeSecurityGroupIngress", "ec2:DescribeSecurityGroupRules"}
    for action in ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"):
        assert allowed[action].endswith(":security-group/SECURITY_GROUP_ID")
    # Describe calls take no resource-level permission in IAM: "*" is the only form.
    assert allowed["ec2:DescribeSecurityGroupRules"] == "*"


def test_only_the_production_environment_of_the_repository_may_assume_the_role():
    trust = json.loads((REPO / "deploy" / "aws" / "github-oidc-trust.json").read_text())
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(
        ":oidc-provider/token.actions.githubusercontent.com")
    equals = statement["Condition"]["StringEquals"]
    assert equals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    # Exact match (not StringLike with a wildcard): a branch or pull request cannot assume it.
    assert equals["token.actions.githubusercontent.com:sub"] == (
        "repo:OWNER/REPOSITORY:environment:production")
