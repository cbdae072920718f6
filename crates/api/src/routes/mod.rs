pub mod findings;
pub mod guard;
pub mod home;
pub mod live;
pub mod ops;
pub mod prices;
pub mod sessions;
pub mod traces;
