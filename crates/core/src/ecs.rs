//! ECS clusters: how a cluster is named (a short name or an ARN), and how the cluster an
//! instance joins is found in its launch template's user data. Pure functions, no I/O.
//!
//! An ECS container instance joins the cluster its agent's `ECS_CLUSTER` names; an ECS launch
//! template usually sets it in the user data ("Bootstrapping container instances with Amazon EC2
//! user data": `echo ECS_CLUSTER=your_cluster_name >> /etc/ecs/ecs.config`, or the `cat <<'EOF'
//! >> /etc/ecs/ecs.config` form,
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bootstrap_container_instance.html).
//! The agent reads `/etc/ecs/ecs.config` as `KEY=value` lines, so the last assignment wins.

/// How long a cluster name may be, and what it may hold: "Up to 255 letters (uppercase and
/// lowercase), numbers, underscores, and hyphens are allowed" ("CreateCluster", `clusterName`,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html).
const MAX_CLUSTER_NAME: usize = 255;

/// Whether `name` is a valid ECS cluster name.
pub fn is_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CLUSTER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The parts of a cluster ARN, `arn:PARTITION:ecs:REGION:ACCOUNT:cluster/NAME` ("Amazon Resource
/// Names (ARNs) and IDs" in the Amazon ECS Developer Guide,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-account-settings.html#ecs-resource-ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

/// `Some` when `arn` is a well-formed cluster ARN.
pub fn parse_cluster_arn(arn: &str) -> Option<ClusterArn<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("ecs"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("cluster/")?;
    let ok = !partition.is_empty()
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && is_cluster_name(name);
    ok.then_some(ClusterArn {
        partition,
        region,
        account,
        name,
    })
}

/// Checks a cluster given by a user (`ecs_cluster`): a cluster name or a cluster ARN. `Err` says
/// what is wrong.
pub fn validate_cluster(cluster: &str) -> Result<(), String> {
    if cluster.starts_with("arn:") {
        return match parse_cluster_arn(cluster) {
            Some(_) => Ok(()),
            None => Err(format!(
                "`{cluster}` is not an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)"
            )),
        };
    }
    if is_cluster_name(cluster) {
        Ok(())
    } else {
        Err(format!(
            "`{cluster}` is not an ECS cluster name (1–255 letters, digits, hyphens and underscores) or ARN"
        ))
    }
}

/// The cluster's short name: the name itself, or the last part of its ARN.
pub fn cluster_name(cluster: &str) -> &str {
    parse_cluster_arn(cluster).map_or(cluster, |a| a.name)
}

/// The cluster named in a launch template's user data (base64, as EC2 returns it): the value of
/// the last `ECS_CLUSTER=` assignment — in an `echo ECS_CLUSTER=… >> /etc/ecs/ecs.config` line
/// (quoted or not) or a line of a `cat <<EOF >> /etc/ecs/ecs.config` heredoc. Comment lines
/// (`#`) are skipped. `None`: the user data cannot be decoded, names no cluster, or its last
/// assignment is not a literal cluster name or ARN (a shell variable, say), so the cluster is
/// not known from it.
pub fn cluster_from_user_data(user_data: &str) -> Option<String> {
    let bytes = decode_base64(user_data)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut last: Option<&str> = None;
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("ECS_CLUSTER=") {
            let before = rest[..i].chars().next_back();
            let after = &rest[i + "ECS_CLUSTER=".len()..];
            // `MY_ECS_CLUSTER=x` is another variable.
            if !matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '_') {
                last = Some(assigned_value(after));
            }
            rest = after;
        }
    }
    let value = last?;
    validate_cluster(value).ok().map(|()| value.to_string())
}

/// The value at the start of `s` (after `ECS_CLUSTER=`): up to the next blank, quote, or shell
/// operator; a value in quotes is taken without them.
fn assigned_value(s: &str) -> &str {
    let s = s.trim_start_matches(['"', '\'']);
    let end = s
        .find(|c: char| c.is_whitespace() || "\"'`;|&<>()".contains(c))
        .unwrap_or(s.len());
    &s[..end]
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, section 4) with padding, as EC2 returns user data.
pub fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (RFC 4648, section 4), padding optional, line breaks and blanks ignored.
/// `None` when `text` is not base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut padding = false;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            padding = true;
            continue;
        }
        if padding {
            // Data after padding.
            return None;
        }
        let v = BASE64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // A lone sextet cannot make a byte.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        encode_base64(s.as_bytes())
    }

    #[test]
    fn base64_round_trips_and_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
            assert_eq!(decode_base64(encoded).as_deref(), Some(plain.as_bytes()));
        }
        // Without padding, with line breaks (as some tools wrap at 76 columns).
        assert_eq!(decode_base64("Zm9vYg").as_deref(), Some(&b"foob"[..]));
        assert_eq!(
            decode_base64("Zm9v\nYmFy\n").as_deref(),
            Some(&b"foobar"[..])
        );
        assert_eq!(decode_base64("Zm9v!"), None);
        assert_eq!(decode_base64("Zg==Zg"), None);
        assert_eq!(decode_base64("Z"), None);
    }

    #[test]
    fn the_echo_form_names_the_cluster() {
        let ud = b64("#!/bin/bash\necho ECS_CLUSTER=prod >> /etc/ecs/ecs.config\n");
        assert_eq!(cluster_from_user_data(&ud).as_deref(), Some("prod"));
        for line in [
            "echo \"ECS_CLUSTER=prod\" >> /etc/ecs/ecs.config",
            "echo 'ECS_CLUSTER=prod' >> /etc/ecs/ecs.config",
            "echo ECS_CLUSTER=\"prod\" >> /etc/ecs/ecs.config",
            "echo ECS_CLUSTER=prod>>/etc/ecs/ecs.config",
            "  echo ECS_CLUSTER=prod | tee -a /etc/ecs/ecs.config",
        ] {
            assert_eq!(
                cluster_from_user_data(&b64(line)).as_deref(),
                Some("prod"),
                "{line}"
            );
        }
    }

    #[test]
    fn the_heredoc_form_names_the_cluster() {
        let ud = b64(
            "#!/bin/bash\ncat <<'EOF' >> /etc/ecs/ecs.config\nECS_CLUSTER=batch-workers\nECS_ENABLE_TASK_IAM_ROLE=true\nEOF\n",
        );
        assert_eq!(
            cluster_from_user_data(&ud).as_deref(),
            Some("batch-workers")
        );
        let ud = b64("cat <<EOF >> /etc/ecs/ecs.config\nECS_CLUSTER=a_b-1\nEOF");
        assert_eq!(cluster_from_user_data(&ud).as_deref(), Some("a_b-1"));
    }

    #[test]
    fn the_last_assignment_wins_and_comments_do_not_count() {
        let ud = b64(
            "echo ECS_CLUSTER=first >> /etc/ecs/ecs.config\necho ECS_CLUSTER=second >> /etc/ecs/ecs.config\n# echo ECS_CLUSTER=commented >> /etc/ecs/ecs.config\n",
        );
        assert_eq!(cluster_from_user_data(&ud).as_deref(), Some("second"));
        // A later assignment that is not a literal name hides the earlier ones: the agent
        // would use it, and it cannot be known here.
        let ud = b64("echo ECS_CLUSTER=first >> f\necho ECS_CLUSTER=$NAME >> f\n");
        assert_eq!(cluster_from_user_data(&ud), None);
    }

    #[test]
    fn an_arn_is_kept_whole() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";
        let ud = b64(&format!("echo ECS_CLUSTER={arn} >> /etc/ecs/ecs.config"));
        assert_eq!(cluster_from_user_data(&ud).as_deref(), Some(arn));
    }

    #[test]
    fn no_cluster_is_none() {
        for text in [
            "",
            "#!/bin/bash\nyum update -y\n",
            "echo MY_ECS_CLUSTER=prod >> /etc/profile",
            "echo ECS_CLUSTER= >> /etc/ecs/ecs.config",
            "echo ECS_CLUSTER=has.dot >> /etc/ecs/ecs.config",
        ] {
            assert_eq!(cluster_from_user_data(&b64(text)), None, "{text:?}");
        }
        // Not base64 at all.
        assert_eq!(cluster_from_user_data("echo ECS_CLUSTER=prod"), None);
    }

    #[test]
    fn cluster_names_and_arns_are_validated() {
        assert!(validate_cluster("prod").is_ok());
        assert!(validate_cluster("Prod_cluster-2").is_ok());
        assert!(validate_cluster(&"a".repeat(255)).is_ok());
        assert!(validate_cluster(&"a".repeat(256)).is_err());
        assert!(validate_cluster("").is_err());
        assert!(validate_cluster("has space").is_err());
        assert!(validate_cluster("arn:aws:ecs:us-east-1:123456789012:cluster/prod").is_ok());
        assert!(validate_cluster("arn:aws-cn:ecs:cn-north-1:123456789012:cluster/p").is_ok());
        for bad in [
            "arn:aws:ecs:us-east-1:123456789012:service/prod",
            "arn:aws:ecs:us-east-1:1234:cluster/prod",
            "arn:aws:ec2:us-east-1:123456789012:cluster/prod",
            "arn:aws:ecs:us-east-1:123456789012:cluster/",
        ] {
            let err = validate_cluster(bad).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
        assert_eq!(
            cluster_name("arn:aws:ecs:us-east-1:123456789012:cluster/prod"),
            "prod"
        );
        assert_eq!(cluster_name("prod"), "prod");
    }
}
