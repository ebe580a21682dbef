//! The AWS implementation of [`Cloud`]: the only module that knows the SDK.
//! Credentials and region come from aws-config's standard chain
//! (environment, profiles, SSO, instance roles; `AWS_ENDPOINT_URL`
//! honoured); every call has an operation timeout and the SDK's retry with
//! backoff for throttling and transient errors.

use std::net::Ipv4Addr;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2 as ec2;
use aws_sdk_elasticloadbalancingv2 as elb;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use ec2::config::http::HttpResponse;
use ec2::error::SdkError;
use base64::Engine;
use ec2::types::{AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification};
use zeroize::Zeroizing;

use super::reconcile::{
    cluster_tag, Applied, Cloud, CloudError, Deletion, Desired, Dhcp, Igw, Image, Instance, Lb, Listener, RouteTable, Rule, SecurityGroup, State, Step, Subnet, Tg,
    Vpc, ROLE_TAG, InstanceState, LbState,
};

/// Clients for one region.
pub struct Aws {
    ec2: ec2::Client,
    elb: elb::Client,
    /// Where requests go, for errors: `AWS_ENDPOINT_URL` or the region's endpoint.
    endpoint: String,
    /// The retry policy's attempts, for errors after retries.
    max_attempts: u32,
}

/// How the SDK is set up.
pub struct AwsOptions {
    pub region: String,
    pub profile: Option<String>,
}

impl Aws {
    /// Loads credentials and settings from the standard chain.
    pub async fn connect(o: &AwsOptions) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(o.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            );
        // More patience than the default three attempts for throttling,
        // unless the user chose (AWS_MAX_ATTEMPTS / profile max_attempts).
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(6).with_initial_backoff(Duration::from_millis(200)));
        }
        if let Some(p) = &o.profile {
            loader = loader.profile_name(p);
        }
        let conf = loader.load().await;
        let endpoint = conf.endpoint_url().map(str::to_string).unwrap_or_else(|| format!("the {} endpoints", o.region));
        let max_attempts = conf.retry_config().map_or(3, |r| r.max_attempts());
        Aws { ec2: ec2::Client::new(&conf), elb: elb::Client::new(&conf), endpoint, max_attempts }
    }

    /// One line for a failed call: operation, endpoint, HTTP status or what
    /// went wrong on the way, the service's code and message, and the
    /// attempts when the SDK retried. Never the SDK's Debug structures.
    fn err<E>(&self, e: SdkError<E, HttpResponse>) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // The operation's error type is `<Operation>Error`, e.g. DescribeVpcsError.
        let op = std::any::type_name::<E>().rsplit("::").next().unwrap_or("request").trim_end_matches("Error").to_string();
        let code = e.code().unwrap_or("").to_string();
        if code.is_empty() && !matches!(e, SdkError::ServiceError(_)) {
            let text = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
            if text.contains("credentials") || text.contains("Credentials") {
                return CloudError::new(
                    "NoCredentials",
                    "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (--aws-profile), or run where an instance role is available",
                );
            }
        }
        let service_message = e.message().map(|m| crate::pki::json::shown_max(m, 200));
        let (what, retried) = match &e {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                (format!("HTTP {status}"), status >= 500 || status == 429 || code.contains("Throttl") || code == "RequestLimitExceeded")
            }
            SdkError::ResponseError(ctx) => (format!("HTTP {} with a response kpki could not read", ctx.raw().status().as_u16()), true),
            SdkError::TimeoutError(_) => ("no answer in time".to_string(), true),
            SdkError::DispatchFailure(f) if f.is_timeout() => ("the connection timed out".to_string(), true),
            SdkError::DispatchFailure(f) if f.is_io() => ("the connection failed".to_string(), true),
            SdkError::DispatchFailure(_) => ("the request could not be sent".to_string(), true),
            _ => ("the request could not be built".to_string(), false),
        };
        let mut line = format!("{op} to {} failed: {what}", self.endpoint);
        if !code.is_empty() {
            line.push_str(&format!(", {code}"));
        }
        if let Some(m) = service_message.filter(|m| !m.is_empty()) {
            line.push_str(&format!(": {m}"));
        }
        if retried && self.max_attempts > 1 {
            line.push_str(&format!(" (after {} attempts)", self.max_attempts));
        }
        CloudError::new(code, line)
    }
}

fn tags(d: &Desired, name: &str, role: &str) -> Vec<(String, String)> {
    let mut t = vec![("Name".into(), name.into()), (cluster_tag(&d.cluster), "owned".into()), (ROLE_TAG.into(), role.into())];
    t.extend(d.user_tags.iter().cloned());
    t
}

fn tag_spec(d: &Desired, rt: ResourceType, name: &str, role: &str) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(rt);
    for (k, v) in tags(d, name, role) {
        b = b.tags(Tag::builder().key(k).value(v).build());
    }
    b.build()
}

fn elb_tags(d: &Desired, name: &str, role: &str) -> Vec<elb::types::Tag> {
    tags(d, name, role).into_iter().map(|(k, v)| elb::types::Tag::builder().key(k).value(v).build()).collect()
}

fn role_filters(d: &Desired, role: &str) -> Vec<Filter> {
    vec![
        Filter::builder().name(format!("tag:{}", cluster_tag(&d.cluster))).values("owned").build(),
        Filter::builder().name(format!("tag:{ROLE_TAG}")).values(role).build(),
    ]
}

fn tag_value(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
}

fn is_not_found(e: &CloudError) -> bool {
    e.code.contains("NotFound")
}

impl Aws {
    async fn vpcs(&self, d: &Desired) -> Result<Vec<Vpc>, CloudError> {
        let out = self.ec2.describe_vpcs().set_filters(Some(role_filters(d, "vpc"))).send().await.map_err(|e| self.err(e))?;
        let mut vpcs = Vec::new();
        for v in out.vpcs() {
            let id = v.vpc_id().unwrap_or_default().to_string();
            let (support, hostnames) = tokio::join!(
                self.ec2.describe_vpc_attribute().vpc_id(&id).attribute(ec2::types::VpcAttributeName::EnableDnsSupport).send(),
                self.ec2.describe_vpc_attribute().vpc_id(&id).attribute(ec2::types::VpcAttributeName::EnableDnsHostnames).send(),
            );
            let support = support.map_err(|e| self.err(e))?.enable_dns_support().and_then(|a| a.value()).unwrap_or(false);
            let hostnames = hostnames.map_err(|e| self.err(e))?.enable_dns_hostnames().and_then(|a| a.value()).unwrap_or(false);
            vpcs.push(Vpc {
                id,
                cidr: v.cidr_block().unwrap_or_default().to_string(),
                dns_support: support,
                dns_hostnames: hostnames,
                dhcp_options_id: v.dhcp_options_id().map(str::to_string),
            });
        }
        Ok(vpcs)
    }

    async fn instances(&self, d: &Desired) -> Result<Vec<Instance>, CloudError> {
        let mut filters = vec![Filter::builder().name(format!("tag:{}", cluster_tag(&d.cluster))).values("owned").build()];
        filters.push(Filter::builder().name("instance-state-name").values("pending").values("running").values("stopping").values("stopped").values("shutting-down").build());
        let out = self.ec2.describe_instances().set_filters(Some(filters)).send().await.map_err(|e| self.err(e))?;
        let mut v = Vec::new();
        for r in out.reservations() {
            for i in r.instances() {
                v.push(Instance {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    name: tag_value(i.tags(), "Name").unwrap_or_default(),
                    state: InstanceState::from(i.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default()),
                    instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    private_ip: i.private_ip_address().and_then(|s| s.parse::<Ipv4Addr>().ok()),
                    public_ip: i.public_ip_address().and_then(|s| s.parse::<Ipv4Addr>().ok()),
                    private_dns: i.private_dns_name().filter(|s| !s.is_empty()).map(str::to_string),
                    source_dest_check: i.source_dest_check().unwrap_or(true),
                });
            }
        }
        Ok(v)
    }

    async fn load_balancer_and_listeners(&self, d: &Desired) -> Result<(Option<Lb>, Vec<Listener>), CloudError> {
        let lbs = match self.elb.describe_load_balancers().names(&d.lb_name).send().await.map_err(|e| self.err(e)) {
            Ok(o) => o,
            Err(e) if is_not_found(&e) => return Ok((None, vec![])),
            Err(e) => return Err(e),
        };
        let Some(lb) = lbs.load_balancers().first() else { return Ok((None, vec![])) };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let owned = self.elb_owned(&arn, d).await?;
        let listeners = if owned {
            let out = self.elb.describe_listeners().load_balancer_arn(&arn).send().await.map_err(|e| self.err(e))?;
            out.listeners()
                .iter()
                .map(|l| Listener {
                    arn: l.listener_arn().unwrap_or_default().to_string(),
                    port: l.port().unwrap_or_default(),
                    target_group: l.default_actions().first().and_then(|a| a.target_group_arn()).map(str::to_string),
                })
                .collect()
        } else {
            vec![]
        };
        let lb = Lb {
            arn,
            dns_name: lb.dns_name().unwrap_or_default().to_string(),
            state: LbState::from(lb.state().and_then(|s| s.code()).map(|c| c.as_str()).unwrap_or_default()),
            scheme: lb.scheme().map(|s| s.as_str().to_string()).unwrap_or_default(),
            lb_type: lb.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            owned,
        };
        Ok((Some(lb), listeners))
    }

    async fn elb_owned(&self, arn: &str, d: &Desired) -> Result<bool, CloudError> {
        let out = self.elb.describe_tags().resource_arns(arn).send().await.map_err(|e| self.err(e))?;
        let key = cluster_tag(&d.cluster);
        Ok(out.tag_descriptions().iter().any(|td| td.tags().iter().any(|t| t.key() == Some(key.as_str()) && t.value() == Some("owned"))))
    }

    async fn tg(&self, d: &Desired) -> Result<Option<Tg>, CloudError> {
        let out = match self.elb.describe_target_groups().names(&d.tg_name).send().await.map_err(|e| self.err(e)) {
            Ok(o) => o,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(tg) = out.target_groups().first() else { return Ok(None) };
        let arn = tg.target_group_arn().unwrap_or_default().to_string();
        let owned = self.elb_owned(&arn, d).await?;
        let health = self.elb.describe_target_health().target_group_arn(&arn).send().await.map_err(|e| self.err(e))?;
        let targets = health.target_health_descriptions().iter().filter_map(|t| t.target().and_then(|t| t.id()).map(str::to_string)).collect();
        Ok(Some(Tg {
            arn,
            port: tg.port().unwrap_or_default(),
            protocol: tg.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
            target_type: tg.target_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
            targets,
            owned,
        }))
    }
}

impl Cloud for Aws {
    async fn describe(&self, d: &Desired) -> Result<State, CloudError> {
        let ec2 = &self.ec2;
        let (vpcs, dhcps, subnets, igws, rts, security_groups, keys, instances, lb, tg) = tokio::join!(
            self.vpcs(d),
            ec2.describe_dhcp_options().set_filters(Some(role_filters(d, "dhcp-options"))).send(),
            ec2.describe_subnets().set_filters(Some(role_filters(d, "subnet"))).send(),
            ec2.describe_internet_gateways().set_filters(Some(role_filters(d, "internet-gateway"))).send(),
            ec2.describe_route_tables().set_filters(Some(role_filters(d, "route-table"))).send(),
            ec2.describe_security_groups().set_filters(Some(role_filters(d, "security-group"))).send(),
            ec2.describe_key_pairs().filters(Filter::builder().name("key-name").values(&d.key_name).build()).send(),
            self.instances(d),
            self.load_balancer_and_listeners(d),
            self.tg(d),
        );
        let dhcps = dhcps
            .map_err(|e| self.err(e))?
            .dhcp_options()
            .iter()
            .map(|o| Dhcp {
                id: o.dhcp_options_id().unwrap_or_default().to_string(),
                domain_name: o
                    .dhcp_configurations()
                    .iter()
                    .find(|c| c.key() == Some("domain-name"))
                    .and_then(|c| c.values().first())
                    .and_then(|v| v.value())
                    .map(str::to_string),
            })
            .collect();
        let subnets = subnets
            .map_err(|e| self.err(e))?
            .subnets()
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                cidr: s.cidr_block().unwrap_or_default().to_string(),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
            })
            .collect();
        let igws = igws
            .map_err(|e| self.err(e))?
            .internet_gateways()
            .iter()
            .map(|g| Igw {
                id: g.internet_gateway_id().unwrap_or_default().to_string(),
                attached_vpc: g.attachments().iter().find_map(|a| a.vpc_id()).map(str::to_string),
            })
            .collect();
        let route_tables = rts
            .map_err(|e| self.err(e))?
            .route_tables()
            .iter()
            .map(|r| RouteTable {
                id: r.route_table_id().unwrap_or_default().to_string(),
                associations: r
                    .associations()
                    .iter()
                    .filter_map(|a| Some((a.route_table_association_id()?.to_string(), a.subnet_id()?.to_string())))
                    .collect(),
                default_route_igw: r
                    .routes()
                    .iter()
                    .find(|rt| rt.destination_cidr_block() == Some("0.0.0.0/0"))
                    .and_then(|rt| rt.gateway_id())
                    .map(str::to_string),
            })
            .collect();
        let security_groups = security_groups
            .map_err(|e| self.err(e))?
            .security_groups()
            .iter()
            .map(|g| SecurityGroup {
                id: g.group_id().unwrap_or_default().to_string(),
                rules: g
                    .ip_permissions()
                    .iter()
                    .flat_map(|p| {
                        let proto = p.ip_protocol().unwrap_or_default().to_string();
                        let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
                        p.ip_ranges()
                            .iter()
                            .filter_map(move |r| r.cidr_ip().map(|c| Rule { protocol: proto.clone(), from, to, cidr: c.to_string() }))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            })
            .collect();
        let owner_tag = cluster_tag(&d.cluster);
        let (key_pair, key_pair_owned) = match keys.map_err(|e| self.err(e)) {
            Ok(k) => (
                !k.key_pairs().is_empty(),
                k.key_pairs().iter().any(|kp| kp.tags().iter().any(|t| t.key() == Some(owner_tag.as_str()) && t.value() == Some("owned"))),
            ),
            Err(e) if is_not_found(&e) => (false, false),
            Err(e) => return Err(e),
        };
        let (lb, listeners) = lb?;
        Ok(State { vpcs: vpcs?, dhcps, subnets, igws, route_tables, security_groups, key_pair, key_pair_owned, instances: instances?, lb, tg: tg?, listeners })
    }

    async fn find_images(&self, owner: &str, name: &str) -> Result<Vec<Image>, CloudError> {
        let out = self
            .ec2
            .describe_images()
            .owners(owner)
            .filters(Filter::builder().name("name").values(name).build())
            .filters(Filter::builder().name("architecture").values("x86_64").build())
            .filters(Filter::builder().name("root-device-type").values("ebs").build())
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(out
            .images()
            .iter()
            .filter(|i| i.owner_id() == Some(owner))
            .map(|i| Image {
                id: i.image_id().unwrap_or_default().to_string(),
                name: i.name().unwrap_or_default().to_string(),
                creation_date: i.creation_date().unwrap_or_default().to_string(),
            })
            .collect())
    }

    async fn apply(&self, d: &Desired, step: &Step) -> Result<Applied, CloudError> {
        let c = &self.ec2;
        let name = d.cluster.as_str();
        let id = |s: Option<&str>| Applied { id: s.unwrap_or_default().to_string(), secret: None };
        let yes = || AttributeBooleanValue::builder().value(true).build();
        Ok(match step {
            Step::CreateVpc { cidr } => {
                let o = c.create_vpc().cidr_block(cidr).tag_specifications(tag_spec(d, ResourceType::Vpc, name, "vpc")).send().await.map_err(|e| self.err(e))?;
                id(o.vpc().and_then(|v| v.vpc_id()))
            }
            Step::EnableVpcDns { vpc } => {
                // AWS takes one attribute per call.
                c.modify_vpc_attribute().vpc_id(vpc).enable_dns_support(yes()).send().await.map_err(|e| self.err(e))?;
                c.modify_vpc_attribute().vpc_id(vpc).enable_dns_hostnames(yes()).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateDhcp { domain_name } => {
                let o = c
                    .create_dhcp_options()
                    .dhcp_configurations(ec2::types::NewDhcpConfiguration::builder().key("domain-name").values(domain_name).build())
                    .dhcp_configurations(ec2::types::NewDhcpConfiguration::builder().key("domain-name-servers").values("AmazonProvidedDNS").build())
                    .tag_specifications(tag_spec(d, ResourceType::DhcpOptions, name, "dhcp-options"))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                let new_id = o.dhcp_options().and_then(|x| x.dhcp_options_id()).unwrap_or_default().to_string();
                // Some EC2 implementations (moto) ignore tag specifications on
                // DHCP options; tag them explicitly so the look-up finds them.
                let mut t = c.create_tags().resources(&new_id);
                for (k, v) in tags(d, name, "dhcp-options") {
                    t = t.tags(Tag::builder().key(k).value(v).build());
                }
                t.send().await.map_err(|e| self.err(e))?;
                id(Some(&new_id))
            }
            Step::AssociateDhcp { vpc, dhcp } => {
                c.associate_dhcp_options().vpc_id(vpc).dhcp_options_id(dhcp).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateSubnet { vpc, cidr } => {
                let o = c
                    .create_subnet()
                    .vpc_id(vpc)
                    .cidr_block(cidr)
                    .tag_specifications(tag_spec(d, ResourceType::Subnet, name, "subnet"))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.subnet().and_then(|s| s.subnet_id()))
            }
            Step::CreateIgw => {
                let o = c
                    .create_internet_gateway()
                    .tag_specifications(tag_spec(d, ResourceType::InternetGateway, name, "internet-gateway"))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.internet_gateway().and_then(|g| g.internet_gateway_id()))
            }
            Step::AttachIgw { igw, vpc } => {
                c.attach_internet_gateway().internet_gateway_id(igw).vpc_id(vpc).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateRouteTable { vpc } => {
                let o = c
                    .create_route_table()
                    .vpc_id(vpc)
                    .tag_specifications(tag_spec(d, ResourceType::RouteTable, name, "route-table"))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.route_table().and_then(|r| r.route_table_id()))
            }
            Step::AssociateRouteTable { route_table, subnet } => {
                let o = c.associate_route_table().route_table_id(route_table).subnet_id(subnet).send().await.map_err(|e| self.err(e))?;
                id(o.association_id())
            }
            Step::CreateDefaultRoute { route_table, igw } => {
                c.create_route().route_table_id(route_table).destination_cidr_block("0.0.0.0/0").gateway_id(igw).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateSecurityGroup { vpc } => {
                let o = c
                    .create_security_group()
                    .group_name(name)
                    .description(format!("{name} cluster (kpki)"))
                    .vpc_id(vpc)
                    .tag_specifications(tag_spec(d, ResourceType::SecurityGroup, name, "security-group"))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.group_id())
            }
            Step::AuthorizeIngress { group, rules } => {
                let perms: Vec<ec2::types::IpPermission> = rules
                    .iter()
                    .map(|r| {
                        ec2::types::IpPermission::builder()
                            .ip_protocol(&r.protocol)
                            .from_port(r.from)
                            .to_port(r.to)
                            .ip_ranges(ec2::types::IpRange::builder().cidr_ip(&r.cidr).build())
                            .build()
                    })
                    .collect();
                c.authorize_security_group_ingress().group_id(group).set_ip_permissions(Some(perms)).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateKeyPair { name: key } => {
                let o = c
                    .create_key_pair()
                    .key_name(key)
                    .tag_specifications(tag_spec(d, ResourceType::KeyPair, key, "key-pair"))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                Applied { id: o.key_pair_id().unwrap_or(key).to_string(), secret: o.key_material().map(|m| Zeroizing::new(m.to_string())) }
            }
            Step::RunInstance { spec, subnet, security_group, key_name, ami, instance_type } => {
                let nic = ec2::types::InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(subnet)
                    .private_ip_address(spec.ip.to_string())
                    .groups(security_group)
                    .associate_public_ip_address(true)
                    .build();
                let o = c
                    .run_instances()
                    .image_id(ami)
                    .instance_type(ec2::types::InstanceType::from(instance_type.as_str()))
                    .min_count(1)
                    .max_count(1)
                    .key_name(key_name)
                    .user_data(base64::engine::general_purpose::STANDARD.encode(&spec.user_data))
                    .network_interfaces(nic)
                    .tag_specifications(tag_spec(d, ResourceType::Instance, &spec.name, &spec.role.to_string()))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.instances().first().and_then(|i| i.instance_id()))
            }
            Step::DisableSourceDestCheck { instance, .. } => {
                c.modify_instance_attribute()
                    .instance_id(instance)
                    .source_dest_check(AttributeBooleanValue::builder().value(false).build())
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(None)
            }
            Step::RenameInstance { instance, to, .. } => {
                c.create_tags().resources(instance).tags(Tag::builder().key("Name").value(to).build()).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateLb { subnet } => {
                let o = self
                    .elb
                    .create_load_balancer()
                    .name(&d.lb_name)
                    .subnets(subnet)
                    .scheme(elb::types::LoadBalancerSchemeEnum::InternetFacing)
                    .r#type(elb::types::LoadBalancerTypeEnum::Network)
                    .set_tags(Some(elb_tags(d, &d.lb_name, "load-balancer")))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.load_balancers().first().and_then(|l| l.load_balancer_arn()))
            }
            Step::CreateTg { vpc } => {
                let o = self
                    .elb
                    .create_target_group()
                    .name(&d.tg_name)
                    .protocol(elb::types::ProtocolEnum::Tcp)
                    .port(6443)
                    .vpc_id(vpc)
                    .target_type(elb::types::TargetTypeEnum::Ip)
                    .set_tags(Some(elb_tags(d, &d.tg_name, "target-group")))
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.target_groups().first().and_then(|t| t.target_group_arn()))
            }
            Step::RegisterTargets { tg, ips } => {
                let targets = ips.iter().map(|ip| elb::types::TargetDescription::builder().id(ip).port(6443).build()).collect();
                self.elb.register_targets().target_group_arn(tg).set_targets(Some(targets)).send().await.map_err(|e| self.err(e))?;
                id(None)
            }
            Step::CreateListener { lb, tg } => {
                let action = elb::types::Action::builder().r#type(elb::types::ActionTypeEnum::Forward).target_group_arn(tg).build();
                let o = self
                    .elb
                    .create_listener()
                    .load_balancer_arn(lb)
                    .protocol(elb::types::ProtocolEnum::Tcp)
                    .port(6443)
                    .default_actions(action)
                    .send()
                    .await
                    .map_err(|e| self.err(e))?;
                id(o.listeners().first().and_then(|l| l.listener_arn()))
            }
        })
    }

    async fn delete(&self, _d: &Desired, what: &Deletion) -> Result<(), CloudError> {
        let c = &self.ec2;
        match what {
            Deletion::TerminateInstances { ids } => {
                c.terminate_instances().set_instance_ids(Some(ids.clone())).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Listener { arn } => {
                self.elb.delete_listener().listener_arn(arn).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Lb { arn } => {
                self.elb.delete_load_balancer().load_balancer_arn(arn).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Tg { arn } => {
                self.elb.delete_target_group().target_group_arn(arn).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::SecurityGroup { id } => {
                c.delete_security_group().group_id(id).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::RouteTable { id, associations } => {
                for a in associations {
                    match c.disassociate_route_table().association_id(a).send().await.map_err(|e| self.err(e)) {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                c.delete_route_table().route_table_id(id).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Igw { id, vpc } => {
                if let Some(v) = vpc {
                    match c.detach_internet_gateway().internet_gateway_id(id).vpc_id(v).send().await.map_err(|e| self.err(e)) {
                        Ok(_) => {}
                        Err(e) if is_not_found(&e) || e.code == "Gateway.NotAttached" => {}
                        Err(e) => return Err(e),
                    }
                }
                c.delete_internet_gateway().internet_gateway_id(id).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Subnet { id } => {
                c.delete_subnet().subnet_id(id).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Vpc { id } => {
                c.delete_vpc().vpc_id(id).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::Dhcp { id } => {
                c.delete_dhcp_options().dhcp_options_id(id).send().await.map_err(|e| self.err(e))?;
            }
            Deletion::KeyPair { name } => {
                c.delete_key_pair().key_name(name).send().await.map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }
}
