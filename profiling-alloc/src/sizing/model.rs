//! The duration model: a run measured on this machine, predicted where the
//! job gets another CPU share.
//!
//! A run took `wall` and used `cpu` of CPU time. The part of its wall time
//! not on a CPU, `wait = max(wall − cpu, 0)`, is waiting (I/O, sleeps,
//! locks) and does not depend on the CPU share. The rest computed, on
//! `parallelism = cpu ÷ (wall − wait)` threads at once. Given `vcpus` of
//! CPU time per second (a fraction is a share of one), at `speed` times
//! this machine's core, and at most `max_threads` threads:
//!
//! ```text
//! predicted = wait + cpu ÷ (min(parallelism, vcpus, max_threads) × speed)
//! ```
//!
//! At `vcpus ≥ parallelism` and speed 1 the prediction is the measurement.

/// Where a run is predicted: the CPU it gets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CpuShare {
    /// vCPUs of CPU time per second.
    pub(crate) vcpus: f64,
    /// One vCPU's speed relative to a core of the machine profiled on.
    pub(crate) speed: f64,
    /// Threads the job may compute on at once.
    pub(crate) max_threads: Option<f64>,
}

/// One run's time, seconds: wall, and CPU where measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RunTime {
    pub(crate) wall: f64,
    pub(crate) cpu: f64,
}

impl RunTime {
    /// Threads the run computed on at once (at least 1).
    pub(crate) fn parallelism(&self) -> f64 {
        let computing = self.wall.min(self.cpu);
        if computing > 0.0 {
            (self.cpu / computing).max(1.0)
        } else {
            1.0
        }
    }

    /// The run where it gets `share`: its wall time, and its CPU time there
    /// (CPU time scales with speed only).
    pub(crate) fn at(&self, share: CpuShare) -> RunTime {
        let wait = (self.wall - self.cpu).max(0.0);
        let threads = self
            .parallelism()
            .min(share.vcpus)
            .min(share.max_threads.unwrap_or(f64::INFINITY));
        let speed = threads * share.speed;
        let cpu = self.cpu / share.speed;
        if speed <= 0.0 {
            return RunTime {
                wall: f64::INFINITY,
                cpu,
            };
        }
        RunTime {
            wall: wait + self.cpu / speed,
            cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(vcpus: f64) -> CpuShare {
        CpuShare {
            vcpus,
            speed: 1.0,
            max_threads: None,
        }
    }

    #[test]
    fn computing_scales_and_waiting_does_not() {
        let computing = RunTime {
            wall: 0.1,
            cpu: 0.1,
        };
        assert_eq!(computing.at(share(0.5)).wall, 0.2);
        assert_eq!(
            computing.at(share(4.0)).wall,
            0.1,
            "one thread uses one vCPU"
        );
        let half_waiting = RunTime {
            wall: 0.1,
            cpu: 0.05,
        };
        assert!((half_waiting.at(share(0.5)).wall - 0.15).abs() < 1e-12);
        assert_eq!(half_waiting.at(share(0.5)).cpu, 0.05);
    }

    #[test]
    fn parallel_runs_use_more_vcpus_up_to_their_parallelism() {
        // 0.1 s of wall computing on 3 threads.
        let parallel = RunTime {
            wall: 0.1,
            cpu: 0.3,
        };
        assert!((parallel.parallelism() - 3.0).abs() < 1e-12);
        assert!((parallel.at(share(6.0)).wall - 0.1).abs() < 1e-12);
        assert!((parallel.at(share(1.5)).wall - 0.2).abs() < 1e-12);
        let one_thread = CpuShare {
            max_threads: Some(1.0),
            ..share(6.0)
        };
        assert!((parallel.at(one_thread).wall - 0.3).abs() < 1e-12);
        let slower = CpuShare {
            speed: 0.5,
            ..share(1.0)
        };
        let computing = RunTime {
            wall: 1.0,
            cpu: 1.0,
        };
        assert_eq!(computing.at(slower).wall, 2.0);
        assert_eq!(computing.at(slower).cpu, 2.0);
    }
}
