"""A TCP relay to the database that a test can cut and restore: the database 'goes away'
without stopping the machine's PostgreSQL."""

import contextlib
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener = None
        self._connections = set()
        self._lock = threading.Lock()
        self.frozen = threading.Event()

    def freeze(self):
        """Go silent: connections are accepted and kept, but nothing is passed either way,
        as a hung database host or a broken network path behaves."""
        self.frozen.set()

    def thaw(self):
        self.frozen.clear()

    def start(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self):
        """Refuse new connections and cut every open one, as a dead database would."""
        if self._listener:
            # shutdown() wakes the thread blocked in accept(); close() alone would not, and
            # the socket would go on accepting.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._connections:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._connections.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.frozen.is_set():
                with self._lock:
                    self._connections.add(client)  # accepted, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.05)  # hold what came in: the peer hears nothing
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()
