"""A single-node Apache Kafka broker (KRaft) assembled from Maven Central artifacts.

The broker's jars are resolved once by Maven from ``deploy/kafka/pom.xml`` into the infra folder;
the log folder is formatted once; ``start`` is idempotent and waits until a client can list topics.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from followback.infra.paths import DEPLOY, InfraError, apt_install, infra_dir, pid_alive
from shared.settings import LOCAL_KAFKA_PORT

JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
]


def _home() -> Path:
    return infra_dir() / "kafka"


def bootstrap() -> str:
    return f"127.0.0.1:{LOCAL_KAFKA_PORT}"


def _properties(home: Path) -> str:
    port, controller = LOCAL_KAFKA_PORT, LOCAL_KAFKA_PORT + 1
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={home / 'data'}",
            "num.partitions=6",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=1",
            "group.initial.rebalance.delay.ms=0",
            "log.cleaner.dedupe.buffer.size=2097152",
            "",
        ]
    )


def _ensure_tools() -> None:
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        apt_install(["openjdk-17-jre-headless", "maven"], f"{' and '.join(missing)} (for Kafka)")


def _resolve_jars(home: Path) -> Path:
    libs = home / "libs"
    marker = libs / ".resolved"
    pom = DEPLOY / "kafka" / "pom.xml"
    if marker.exists() and marker.read_text() == pom.read_text():
        return libs
    shutil.rmtree(libs, ignore_errors=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise InfraError(f"Maven could not resolve the Kafka broker:\n{done.stdout[-3000:]}")
    marker.write_text(pom.read_text())
    return libs


def _java(libs: Path, *args: str) -> list[str]:
    log4j = DEPLOY / "kafka" / "log4j2.properties"
    return [
        "java", *JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{libs}/*", *args,
    ]  # fmt: skip


def _format(home: Path, libs: Path, config: Path) -> None:
    if (home / "data" / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if cluster_id.startswith("-"):
        cluster_id = "A" + cluster_id[1:]
    cmd = _java(libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise InfraError(f"formatting the Kafka log folder failed:\n{done.stdout}{done.stderr}")


async def ready(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True when a Kafka client can fetch the cluster's metadata."""
    from aiokafka.admin import AIOKafkaAdminClient

    # A broker that is still starting refuses connections; that is the expected answer here.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def start(timeout: float = 60.0) -> float:
    """Start the broker unless it runs; returns the seconds until it answered."""
    home = _home()
    pid_file = home / "kafka.pid"
    began = time.monotonic()
    if pid_alive(pid_file) is None:
        _ensure_tools()
        home.mkdir(parents=True, exist_ok=True)
        libs = _resolve_jars(home)
        config = home / "server.properties"
        config.write_text(_properties(home))
        _format(home, libs, config)
        began = time.monotonic()
        with (home / "kafka.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603
                _java(libs, "kafka.Kafka", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid_file.write_text(str(process.pid))
    deadline = began + timeout
    while time.monotonic() < deadline:
        if asyncio.run(ready(bootstrap())):
            return time.monotonic() - began
        if pid_alive(pid_file) is None:
            raise InfraError(f"Kafka exited during start; see {home / 'kafka.log'}")
        time.sleep(0.2)
    raise InfraError(f"Kafka did not answer within {timeout:.0f}s; see {home / 'kafka.log'}")


def stop(timeout: float = 30.0) -> bool:
    """Stop the broker this launcher started; False if it was not running."""
    pid_file = _home() / "kafka.pid"
    pid = pid_alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid_file):
        time.sleep(0.2)
    if pid_alive(pid_file):
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def broker_pid() -> int | None:
    """The pid of the broker this launcher started, while it runs."""
    return pid_alive(_home() / "kafka.pid")


def running() -> bool:
    return broker_pid() is not None
