//! A cloud in memory, with the semantics kpki relies on: ids on create,
//! tags implied, host names derived from private IPs as AWS does. It backs
//! `--dry-run` (seeded with the real state, it shows every step a run would
//! take) and the unit tests of the convergence logic.

use std::sync::Mutex;

use super::reconcile::{InstanceState, LbState, Applied, Cloud, CloudError, Deletion, Desired, Dhcp, Igw, Image, Instance, Lb, Listener, RouteTable, SecurityGroup, State, Step, Subnet, Tg, Vpc};

/// An in-memory cloud.
pub struct SimCloud {
    state: Mutex<State>,
    images: Vec<Image>,
    next: Mutex<u32>,
    /// Every step applied, in order.
    pub log: Mutex<Vec<Step>>,
    /// Makes the n-th apply (1-based) fail once, to test resuming.
    pub fail_at: Mutex<Option<u32>>,
}

impl SimCloud {
    pub fn new(state: State, images: Vec<Image>) -> Self {
        SimCloud { state: Mutex::new(state), images, next: Mutex::new(0), log: Mutex::new(vec![]), fail_at: Mutex::new(None) }
    }

    pub fn state(&self) -> State {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn id(&self, prefix: &str) -> String {
        let mut n = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        format!("{prefix}-sim{:08x}", *n)
    }
}

impl Cloud for SimCloud {
    async fn describe(&self, _d: &Desired) -> Result<State, CloudError> {
        Ok(self.state())
    }

    async fn find_images(&self, owner: &str, name: &str) -> Result<Vec<Image>, CloudError> {
        let _ = owner;
        let pattern = name.trim_end_matches('*');
        Ok(self.images.iter().filter(|i| if name.ends_with('*') { i.name.starts_with(pattern) } else { i.name == name }).cloned().collect())
    }

    async fn apply(&self, d: &Desired, step: &Step) -> Result<Applied, CloudError> {
        {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.push(step.clone());
            let mut f = self.fail_at.lock().unwrap_or_else(|e| e.into_inner());
            if *f == Some(log.len() as u32) {
                *f = None;
                return Err(CloudError::new("InternalError", "simulated failure"));
            }
        }
        let mut id = String::new();
        let mut secret = None;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match step {
            Step::CreateVpc { cidr } => {
                id = self.id("vpc");
                s.vpcs.push(Vpc { id: id.clone(), cidr: cidr.clone(), dns_support: true, dns_hostnames: false, dhcp_options_id: Some("default".into()) });
            }
            Step::EnableVpcDns { vpc } => {
                for v in s.vpcs.iter_mut().filter(|v| &v.id == vpc) {
                    v.dns_support = true;
                    v.dns_hostnames = true;
                }
            }
            Step::CreateDhcp { domain_name } => {
                id = self.id("dopt");
                s.dhcps.push(Dhcp { id: id.clone(), domain_name: Some(domain_name.clone()) });
            }
            Step::AssociateDhcp { vpc, dhcp } => {
                for v in s.vpcs.iter_mut().filter(|v| &v.id == vpc) {
                    v.dhcp_options_id = Some(dhcp.clone());
                }
            }
            Step::CreateSubnet { vpc, cidr } => {
                id = self.id("subnet");
                s.subnets.push(Subnet { id: id.clone(), cidr: cidr.clone(), vpc_id: vpc.clone() });
            }
            Step::CreateIgw => {
                id = self.id("igw");
                s.igws.push(Igw { id: id.clone(), attached_vpc: None });
            }
            Step::AttachIgw { igw, vpc } => {
                for g in s.igws.iter_mut().filter(|g| &g.id == igw) {
                    g.attached_vpc = Some(vpc.clone());
                }
            }
            Step::CreateRouteTable { .. } => {
                id = self.id("rtb");
                s.route_tables.push(RouteTable { id: id.clone(), associations: vec![], default_route_igw: None });
            }
            Step::AssociateRouteTable { route_table, subnet } => {
                id = self.id("rtbassoc");
                let assoc = id.clone();
                for r in s.route_tables.iter_mut().filter(|r| &r.id == route_table) {
                    r.associations.push((assoc.clone(), subnet.clone()));
                }
            }
            Step::CreateDefaultRoute { route_table, igw } => {
                for r in s.route_tables.iter_mut().filter(|r| &r.id == route_table) {
                    r.default_route_igw = Some(igw.clone());
                }
            }
            Step::CreateSecurityGroup { .. } => {
                id = self.id("sg");
                s.security_groups.push(SecurityGroup { id: id.clone(), rules: vec![] });
            }
            Step::AuthorizeIngress { group, rules } => {
                for g in s.security_groups.iter_mut().filter(|g| &g.id == group) {
                    g.rules.extend(rules.iter().cloned());
                }
            }
            Step::CreateKeyPair { name } => {
                id = self.id("key");
                s.key_pair = true;
                s.key_pair_owned = true;
                secret = Some(zeroize::Zeroizing::new(format!("(simulated private key for {name})")));
            }
            Step::RunInstance { spec, instance_type, .. } => {
                id = self.id("i");
                let o = spec.ip.octets();
                s.instances.push(Instance {
                    id: id.clone(),
                    name: spec.name.clone(),
                    state: InstanceState::Running,
                    instance_type: instance_type.clone(),
                    private_ip: Some(spec.ip),
                    public_ip: Some(std::net::Ipv4Addr::new(198, 51, 100, o[3])),
                    private_dns: Some(format!("ip-{}-{}-{}-{}.{}", o[0], o[1], o[2], o[3], d.domain_name)),
                    source_dest_check: true,
                });
            }
            Step::DisableSourceDestCheck { instance, .. } => {
                for i in s.instances.iter_mut().filter(|i| &i.id == instance) {
                    i.source_dest_check = false;
                }
            }
            Step::RenameInstance { instance, to, .. } => {
                for i in s.instances.iter_mut().filter(|i| &i.id == instance) {
                    i.name = to.clone();
                }
            }
            Step::CreateLb { .. } => {
                id = format!("arn:sim:elasticloadbalancing:loadbalancer/net/{}/{}", d.lb_name, self.id("lb"));
                s.lb = Some(Lb {
                    arn: id.clone(),
                    dns_name: format!("{}-sim.elb.{}.amazonaws.com", d.lb_name, d.region),
                    state: LbState::Active,
                    scheme: "internet-facing".into(),
                    lb_type: "network".into(),
                    owned: true,
                });
            }
            Step::CreateTg { .. } => {
                id = format!("arn:sim:elasticloadbalancing:targetgroup/{}/{}", d.tg_name, self.id("tg"));
                s.tg = Some(Tg { arn: id.clone(), port: 6443, protocol: "TCP".into(), target_type: "ip".into(), targets: vec![], owned: true });
            }
            Step::RegisterTargets { ips, .. } => {
                if let Some(tg) = s.tg.as_mut() {
                    tg.targets.extend(ips.iter().cloned());
                }
            }
            Step::CreateListener { tg, .. } => {
                id = format!("arn:sim:listener/{}", self.id("l"));
                s.listeners.push(Listener { arn: id.clone(), port: 6443, target_group: Some(tg.clone()) });
            }
        }
        Ok(Applied { id, secret })
    }

    async fn delete(&self, _d: &Desired, what: &Deletion) -> Result<(), CloudError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match what {
            Deletion::TerminateInstances { ids } => s.instances.retain(|i| !ids.contains(&i.id)),
            Deletion::Listener { arn } => s.listeners.retain(|l| &l.arn != arn),
            Deletion::Lb { .. } => {
                if !s.listeners.is_empty() {
                    return Err(CloudError::new("ResourceInUse", "the load balancer has listeners"));
                }
                s.lb = None
            }
            Deletion::Tg { .. } => s.tg = None,
            Deletion::SecurityGroup { id } => s.security_groups.retain(|g| &g.id != id),
            Deletion::RouteTable { id, .. } => s.route_tables.retain(|r| &r.id != id),
            Deletion::Igw { id, .. } => s.igws.retain(|g| &g.id != id),
            Deletion::Subnet { id } => {
                if !s.instances.is_empty() {
                    return Err(CloudError::new("DependencyViolation", "the subnet has instances"));
                }
                s.subnets.retain(|x| &x.id != id)
            }
            Deletion::Vpc { id } => {
                if !s.subnets.is_empty() {
                    return Err(CloudError::new("DependencyViolation", "the VPC has subnets"));
                }
                s.vpcs.retain(|v| &v.id != id)
            }
            Deletion::Dhcp { id } => s.dhcps.retain(|o| &o.id != id),
            Deletion::KeyPair { .. } => {
                s.key_pair = false;
                s.key_pair_owned = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cluster::Cluster;
    use crate::provision::reconcile::{self, Progress};
    use std::time::Duration;

    struct Quiet(Mutex<Vec<String>>);
    impl Progress for Quiet {
        fn line(&self, _msg: &str) {}
        fn save_key(&self, key_name: &str, _material: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.0.lock().unwrap().push(key_name.to_string());
            Ok(())
        }
    }

    fn images() -> Vec<Image> {
        let img = |id: &str, name: &str, date: &str| Image { id: id.into(), name: name.into(), creation_date: date.into() };
        vec![
            img("ami-old", "ubuntu-pro-server/images/hvm-ssd/ubuntu-xenial-16.04-amd64-pro-server-20221202", "2022-12-02T00:00:00.000Z"),
            img("ami-new", "ubuntu-pro-server/images/hvm-ssd/ubuntu-xenial-16.04-amd64-pro-server-20221202", "2023-01-05T00:00:00.000Z"),
        ]
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    fn desired() -> Desired {
        Desired::from_cluster(&Cluster::default_seed())
    }

    #[test]
    fn converges_from_nothing_then_changes_nothing() {
        let d = desired();
        let sim = SimCloud::new(State::default(), images());
        let quiet = Quiet(Mutex::new(vec![]));
        let c = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap();
        assert_eq!(c.ami.unwrap().id, "ami-new", "the newest image wins");
        assert_eq!(quiet.0.lock().unwrap().as_slice(), ["k8s-cluster"], "the key is saved once");
        let inv = c.inventory;
        assert_eq!(inv.api_address, "k8s-cluster-sim.elb.us-east-2.amazonaws.com");
        assert_eq!(inv.workers[1].name, "ip-172-31-0-21");
        assert_eq!(inv.masters.len(), 3);
        let s = sim.state();
        assert_eq!(s.instances.len(), 6);
        assert!(s.instances.iter().all(|i| !i.source_dest_check));
        assert_eq!(s.security_groups[0].rules.len(), 5);
        assert_eq!(s.tg.as_ref().unwrap().targets, vec!["172.31.0.10", "172.31.0.11", "172.31.0.12"]);
        assert_eq!(s.vpcs[0].dhcp_options_id.as_deref(), Some(s.dhcps[0].id.as_str()));
        assert_eq!(s.route_tables[0].default_route_igw.as_deref(), Some(s.igws[0].id.as_str()));
        let applied = sim.log.lock().unwrap().len();
        let again = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap();
        assert!(again.created.is_empty());
        assert_eq!(sim.log.lock().unwrap().len(), applied, "a second run applies nothing");
    }

    #[test]
    fn a_failure_part_way_reports_what_was_created_and_a_rerun_converges() {
        let d = desired();
        for fail_at in [1, 5, 12, 20, 25] {
            let sim = SimCloud::new(State::default(), images());
            *sim.fail_at.lock().unwrap() = Some(fail_at);
            let quiet = Quiet(Mutex::new(vec![]));
            let err = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap_err().to_string();
            assert!(err.contains("simulated failure"), "{err}");
            if fail_at > 4 {
                assert!(err.contains("created before the failure"), "{err}");
            }
            block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap();
            let s = sim.state();
            assert_eq!((s.vpcs.len(), s.subnets.len(), s.igws.len(), s.dhcps.len(), s.security_groups.len(), s.route_tables.len()), (1, 1, 1, 1, 1, 1));
            assert_eq!(s.instances.len(), 6, "no duplicate instances after failing at step {fail_at}");
            assert_eq!(s.listeners.len(), 1);
        }
    }

    #[test]
    fn instances_carry_the_tutorials_names_and_old_names_are_re_tagged_not_duplicated() {
        let d = desired();
        let sim = SimCloud::new(State::default(), images());
        let quiet = Quiet(Mutex::new(vec![]));
        let first = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap();
        let names: Vec<String> = sim.state().instances.iter().map(|i| i.name.clone()).collect();
        assert_eq!(names, ["k8s-cluster-master-0", "k8s-cluster-master-1", "k8s-cluster-master-2", "k8s-cluster-worker-0", "k8s-cluster-worker-1", "k8s-cluster-worker-2"]);
        // A cluster an earlier kpki made: instances named `master-0`...
        let mut old = sim.state();
        for i in old.instances.iter_mut() {
            i.name = i.name.trim_start_matches("k8s-cluster-").to_string();
        }
        let ids: Vec<String> = old.instances.iter().map(|i| i.id.clone()).collect();
        let sim = SimCloud::new(old, images());
        let again = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap();
        let s = sim.state();
        assert_eq!(s.instances.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), ids, "found by the old name, not run again");
        assert_eq!(s.instances.iter().map(|i| i.name.clone()).collect::<Vec<_>>(), names, "re-tagged with the tutorial's names");
        assert_eq!(again.inventory, first.inventory, "the same nodes and addresses");
        let log = sim.log.lock().unwrap().clone();
        assert_eq!(log.len(), 6, "only the six re-tags: {log:?}");
        let first_step = log[0].describe();
        assert!(first_step.contains("re-tag instance") && first_step.contains("Name=k8s-cluster-master-0 (was master-0)"), "{first_step}");
    }

    #[test]
    fn drift_is_reported_not_recreated() {
        let d = desired();
        let mut state = State::default();
        state.vpcs.push(Vpc { id: "vpc-1".into(), cidr: "10.0.0.0/16".into(), dns_support: true, dns_hostnames: true, dhcp_options_id: None });
        let sim = SimCloud::new(state, images());
        let quiet = Quiet(Mutex::new(vec![]));
        let err = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap_err().to_string();
        assert!(err.contains("VPC k8s-cluster (vpc-1) has CIDR 10.0.0.0/16 but the config says 172.31.0.0/16"), "{err}");
        assert!(err.contains("nothing was created"));
        assert!(sim.log.lock().unwrap().is_empty());
    }

    #[test]
    fn missing_ami_is_a_clear_error() {
        let d = desired();
        let sim = SimCloud::new(State::default(), vec![]);
        let quiet = Quiet(Mutex::new(vec![]));
        let err = block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap_err().to_string();
        assert!(err.contains("no AMI named"), "{err}");
    }

    #[test]
    fn destroy_deletes_everything_in_dependency_order() {
        let d = desired();
        let sim = SimCloud::new(State::default(), images());
        let quiet = Quiet(Mutex::new(vec![]));
        block_on(reconcile::converge(&sim, &d, &quiet, Duration::from_millis(1))).unwrap();
        let order: Vec<String> = reconcile::deletions(&sim.state(), &d.key_name).iter().map(|x| x.describe()).collect();
        assert!(order[0].starts_with("terminate instances"));
        assert!(order.last().unwrap().starts_with("delete key pair"));
        let (deleted, failed) = block_on(reconcile::destroy(&sim, &d, &quiet, Duration::from_millis(1), None)).unwrap();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(deleted.len(), order.len());
        assert_eq!(sim.state(), State::default());
    }

    #[test]
    fn us_east_1_uses_ec2_internal() {
        let mut c = Cluster::default_seed();
        c.region = "us-east-1".into();
        assert_eq!(Desired::from_cluster(&c).domain_name, "ec2.internal");
        assert_eq!(desired().domain_name, "us-east-2.compute.internal");
    }
}
