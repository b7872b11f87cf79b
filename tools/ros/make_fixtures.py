"""Write the ROS 2 fixtures of crates/sage-io with the `rosbags` package (PyPI), which
serializes ROS 2 messages to CDR and writes rosbag2 MCAP files without a ROS install.

    pip install rosbags==0.11.9
    python3 tools/ros/make_fixtures.py crates/sage-io/tests/fixtures

Writes one CDR payload per message type (`<name>.cdr`, as rmw_zenoh publishes it: the 4-byte
encapsulation header then little-endian CDR), `expected.json` with every field as rosbags
reads the payload back, and `robot.mcap`, a short recording of a robot's topics.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

ts = get_typestore(Stores.ROS2_HUMBLE)
T = ts.types


def header(sec, nanosec, frame):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame
    )


def vec3(x, y, z):
    return T["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)


def imu(i):
    return T["sensor_msgs/msg/Imu"](
        header=header(1700000000 + i // 200, (i % 200) * 5_000_000, "imu_link"),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0.01 * i, y=-0.02, z=0.03, w=0.999),
        orientation_covariance=np.array([0.1 * k for k in range(9)], dtype=np.float64),
        angular_velocity=vec3(0.001 * i, 0.5, -0.25),
        angular_velocity_covariance=np.zeros(9, dtype=np.float64),
        linear_acceleration=vec3(0.1, -0.2, 9.81 + 0.01 * (i % 7)),
        linear_acceleration_covariance=np.full(9, -1.0, dtype=np.float64),
    )


def battery(pct):
    return T["sensor_msgs/msg/BatteryState"](
        header=header(1700000001, 250, "battery"),
        voltage=24.6,
        temperature=31.5,
        current=-2.25,
        charge=18.0,
        capacity=20.0,
        design_capacity=22.0,
        percentage=pct,
        power_supply_status=2,
        power_supply_health=1,
        power_supply_technology=3,
        present=True,
        cell_voltage=np.array([4.1, 4.09, 4.12], dtype=np.float32),
        cell_temperature=np.array([30.5, 31.0], dtype=np.float32),
        location="rear bay",
        serial_number="BAT-0042",
    )


def scan(i):
    n = 16
    return T["sensor_msgs/msg/LaserScan"](
        header=header(1700000002, 1000 * i, "laser"),
        angle_min=-1.57,
        angle_max=1.57,
        angle_increment=3.14 / (n - 1),
        time_increment=0.0001,
        scan_time=0.1,
        range_min=0.05,
        range_max=12.0,
        ranges=np.array([1.0 + 0.25 * k + 0.01 * i for k in range(n)], dtype=np.float32),
        intensities=np.array([float(k % 3) for k in range(n)], dtype=np.float32),
    )


def range_msg(d):
    return T["sensor_msgs/msg/Range"](
        header=header(1700000003, 7, "sonar"),
        radiation_type=0,
        field_of_view=0.5,
        min_range=0.02,
        max_range=4.0,
        range=d,
    )


def image(i):
    w, h = 4, 3
    data = np.array([(i + k) % 256 for k in range(w * h * 3)], dtype=np.uint8)
    return T["sensor_msgs/msg/Image"](
        header=header(1700000004, 99, "camera"),
        height=h,
        width=w,
        encoding="rgb8",
        is_bigendian=0,
        step=w * 3,
        data=data,
    )


def string(s):
    return T["std_msgs/msg/String"](data=s)


MESSAGES = {
    "string": ("std_msgs/msg/String", string("Is the charging dock free? ünïcode ✓")),
    "imu": ("sensor_msgs/msg/Imu", imu(3)),
    "battery": ("sensor_msgs/msg/BatteryState", battery(0.9)),
    "laserscan": ("sensor_msgs/msg/LaserScan", scan(1)),
    "range": ("sensor_msgs/msg/Range", range_msg(1.25)),
    "image": ("sensor_msgs/msg/Image", image(0)),
}


def plain(v):
    """A message as JSON: fields by name, arrays as lists."""
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if hasattr(v, "__dataclass_fields__"):
        # Fields only: constants (UPPER_CASE) and the type tag are not on the wire.
        return {k: plain(getattr(v, k)) for k in v.__dataclass_fields__ if k != "__msgtype__" and not k.isupper()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (msgtype, msg) in MESSAGES.items():
        raw = bytes(ts.serialize_cdr(msg, msgtype))
        assert raw[:4] == b"\x00\x01\x00\x00", raw[:4]
        (out / f"{name}.cdr").write_bytes(raw)
        back = ts.deserialize_cdr(raw, msgtype)
        expected[name] = {"type": msgtype, "rihs01": ts.hash_rihs01(msgtype), "fields": plain(back)}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")

    bag = out / "robot_bag"
    if bag.exists():
        shutil.rmtree(bag)
    with Writer(bag, version=8, storage_plugin=StoragePlugin.MCAP) as w:
        topics = {
            "/imu": w.add_connection("/imu", "sensor_msgs/msg/Imu", typestore=ts),
            "/scan": w.add_connection("/scan", "sensor_msgs/msg/LaserScan", typestore=ts),
            "/battery": w.add_connection("/battery", "sensor_msgs/msg/BatteryState", typestore=ts),
            "/sonar": w.add_connection("/sonar", "sensor_msgs/msg/Range", typestore=ts),
            "/camera/image_raw": w.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts),
            "/operator": w.add_connection("/operator", "std_msgs/msg/String", typestore=ts),
        }
        t0 = 1_700_000_000_000_000_000
        events = []
        for i in range(200):  # 1 s of IMU at 200 Hz
            events.append((t0 + i * 5_000_000, "/imu", "sensor_msgs/msg/Imu", imu(i)))
        for i in range(10):  # lidar at 10 Hz
            events.append((t0 + i * 100_000_000, "/scan", "sensor_msgs/msg/LaserScan", scan(i)))
        for i in range(5):  # camera at 5 Hz
            events.append((t0 + i * 200_000_000, "/camera/image_raw", "sensor_msgs/msg/Image", image(i)))
        events.append((t0 + 300_000_000, "/battery", "sensor_msgs/msg/BatteryState", battery(0.18)))
        events.append((t0 + 400_000_000, "/sonar", "sensor_msgs/msg/Range", range_msg(0.3)))
        events.append((t0 + 500_000_000, "/operator", "std_msgs/msg/String", string("What is the battery level?")))
        events.append((t0 + 700_000_000, "/operator", "std_msgs/msg/String", string("URGENT: smoke near the dock, stop now!")))
        events.sort(key=lambda e: e[0])
        for t, topic, msgtype, msg in events:
            w.write(topics[topic], t, bytes(ts.serialize_cdr(msg, msgtype)))
    mcap = next(bag.glob("*.mcap"))
    shutil.move(str(mcap), out / "robot.mcap")
    shutil.rmtree(bag)
    print(f"wrote {len(MESSAGES)} payloads, expected.json and robot.mcap to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/sage-io/tests/fixtures")
