//! hello-redis: counts requests per client address in Redis (with a TTL), returns the count in
//! `x-hello-count`, and lets requests through untouched when Redis fails. Config:
//! `{"redis": {"service_name": "redis.static", "service_port": 6379}, "ttl_seconds": 60}`
use gateway_sdk::prelude::*;
use std::num::NonZeroU32;

config_struct! {
    /// The configuration.
    pub struct Config {
        redis: RedisConfig,
        ttl_seconds: Option<NonZeroU32> = None,
    }
}
pub struct HelloRedis {
    redis: RedisClient,
    ttl: i64,
}
impl Plugin for HelloRedis {
    const NAME: &'static str = "hello-redis";
    type Config = Config;
    type Filter = Counter;
    fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        let ttl = config.ttl_seconds.map_or(60, |t| i64::from(t.get()));
        Ok(HelloRedis { redis: RedisClient::new(&config.redis, &at.field("redis"))?, ttl })
    }
    fn new_filter(plugin: &Shared<Self>) -> Counter {
        Counter { plugin: plugin.clone(), count: None }
    }
}
pub struct Counter {
    plugin: Shared<HelloRedis>,
    count: Option<i64>,
}
impl HttpFilter for Counter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let key = format!("hello:{}", ctx.client_ip().map(|ip| ip.to_string()).unwrap_or_default());
        let (redis, ttl) = (&self.plugin.redis, self.plugin.ttl);
        match join(redis.incr(&key), redis.expire(&key, ttl)).await.0 {
            Ok(n) => self.count = Some(n),
            Err(e) => gateway_sdk::warn!("hello-redis: not counted, request passes: {e}"),
        }
        Flow::Continue
    }
    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        if let Some(n) = self.count {
            ctx.set_response_header("x-hello-count", &n.to_string());
        }
        Flow::Continue
    }
}
export_plugin!(HelloRedis);
