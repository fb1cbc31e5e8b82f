#!/usr/bin/env bash
# Open port 22 of the host's security group to this GitHub runner only, for one deploy job,
# and close it again: the group has no SSH rule otherwise (docs/deploy.md, "Least privilege").
#
#   deploy/ssh-window.sh open <security-group-id> [<host>]   allow this runner's public IPv4/32
#                                                            on tcp/22 (then wait for <host>:22)
#   deploy/ssh-window.sh close <security-group-id>           revoke every rule this script made
#
# The deploy job runs it with short-lived AWS credentials from GitHub's OIDC token (the role in
# deploy/aws/: it may describe rules, and add or remove ingress on that one group, nothing
# else). Every rule it adds is described "binance-svc-ci run <id>"; `close` removes all such
# rules, and `open` does first, so a job killed before its close step leaves the window open
# only until the next deploy job starts.
set -euo pipefail

MARK=binance-svc-ci
IP_URL=${RUNNER_IP_URL:-https://checkip.amazonaws.com}
SG_RE='^sg-[0-9a-f]{8,17}$'

die() { printf 'ssh-window: %s\n' "$*" >&2; exit 1; }

close_window() { # group
    local ids
    ids=$(aws ec2 describe-security-group-rules --filters "Name=group-id,Values=$1" \
        --query "SecurityGroupRules[?!IsEgress && FromPort==\`22\` && Description && starts_with(Description, '$MARK')].SecurityGroupRuleId" \
        --output text)
    read -r -a ids <<<"${ids//None/}"
    if [[ ${#ids[@]} -eq 0 ]]; then return 0; fi
    aws ec2 revoke-security-group-ingress --group-id "$1" --security-group-rule-ids "${ids[@]}" >/dev/null
    printf 'ssh-window: closed port 22 (%s)\n' "${ids[*]}"
}

open_window() { # group [host]
    local ip i
    ip=$(curl -fsS --max-time 10 "$IP_URL" | tr -d '[:space:]') || die "cannot learn this runner's address from $IP_URL"
    [[ $ip =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die "not an IPv4 address: '$ip'"
    close_window "$1"
    aws ec2 authorize-security-group-ingress --group-id "$1" --ip-permissions \
        "[{\"IpProtocol\":\"tcp\",\"FromPort\":22,\"ToPort\":22,\"IpRanges\":[{\"CidrIp\":\"$ip/32\",\"Description\":\"$MARK run ${GITHUB_RUN_ID:-local}\"}]}]" >/dev/null
    printf 'ssh-window: port 22 open to %s/32\n' "$ip"
    [[ -n ${2:-} ]] || return 0
    # A new rule takes a moment to apply; ssh's first try should not be the one that waits.
    for ((i = 0; i < 30; i++)); do
        # shellcheck disable=SC2016 # $0 is the inner shell's: the host, passed as an argument
        if timeout 3 bash -c ': <"/dev/tcp/$0/22"' "$2" 2>/dev/null; then return 0; fi
        sleep 2
    done
    die "$2:22 still does not answer a minute after the rule was added"
}

[[ $# -ge 2 && ${2:-} =~ $SG_RE ]] || die "usage: ssh-window.sh open|close <sg-id> [<host>]"
case $1 in
    open) open_window "$2" "${3:-}" ;;
    close) [[ $# -eq 2 ]] || die "close takes only the group"; close_window "$2" ;;
    *) die "usage: ssh-window.sh open|close <sg-id> [<host>]" ;;
esac
