package dev.ganymede.opensearch;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts one OpenSearch node in this JVM, listening on 127.0.0.1 only.
 *
 * <pre>
 * DevNode --home DIR [--data DIR] [--http-port N] [--url-file FILE] [--pid-file FILE]
 *         [--watch-pid PID] [--delete-on-exit DIR]... [-E key=value]...
 * </pre>
 *
 * <ul>
 *   <li>{@code --http-port 0} (the default) lets the OS pick a free port.</li>
 *   <li>Once HTTP is listening, prints {@code ganymede-opensearch-dev: listening on http://HOST:PORT}
 *       on stdout and, if given, writes the URL to {@code --url-file}.</li>
 *   <li>{@code --watch-pid}: stop the node when that process exits.</li>
 *   <li>{@code --delete-on-exit}: delete that directory after the node is closed.</li>
 * </ul>
 *
 * SIGTERM/SIGINT close the node cleanly through a shutdown hook.
 */
public final class DevNode {

    private static final String PREFIX = "ganymede-opensearch-dev: ";

    /**
     * Modules of the OpenSearch distribution that are loaded as classpath plugins. The
     * distribution loads these from its modules/ directory; here they are plain jars.
     */
    private static final List<Class<? extends Plugin>> PLUGINS =
        List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, MapperExtrasPlugin.class, PainlessPlugin.class);

    /** Exposes the protected constructor that accepts classpath plugins (2.x signature). */
    private static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
            super(environment, classpathPlugins, true);
        }
    }

    private DevNode() {}

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            System.err.println(PREFIX + "failed to start: " + t);
            t.printStackTrace();
            System.err.flush();
            // Exit explicitly: threads started by the half-built node would keep the JVM alive.
            System.exit(1);
        }
    }

    private static void run(String[] args) throws Exception {
        Path home = null;
        Path data = null;
        String httpPort = "0";
        Path urlFile = null;
        Path pidFile = null;
        Long watchPid = null;
        List<Path> deleteOnExit = new ArrayList<>();
        Map<String, String> extra = new LinkedHashMap<>();

        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--home": home = Paths.get(value(args, ++i, a)); break;
                case "--data": data = Paths.get(value(args, ++i, a)); break;
                case "--http-port": httpPort = value(args, ++i, a); break;
                case "--url-file": urlFile = Paths.get(value(args, ++i, a)); break;
                case "--pid-file": pidFile = Paths.get(value(args, ++i, a)); break;
                case "--watch-pid": watchPid = Long.parseLong(value(args, ++i, a)); break;
                case "--delete-on-exit": deleteOnExit.add(Paths.get(value(args, ++i, a))); break;
                case "-E": {
                    String kv = value(args, ++i, a);
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        usage("-E expects key=value, got: " + kv);
                    }
                    extra.put(kv.substring(0, eq), kv.substring(eq + 1));
                    break;
                }
                case "-h":
                case "--help":
                    usage(null);
                    break;
                default:
                    usage("unknown argument: " + a);
            }
        }
        if (home == null) {
            usage("--home is required");
        }
        home = home.toAbsolutePath();
        data = data == null ? home.resolve("data") : data.toAbsolutePath();
        if (httpPort.isEmpty()) {
            httpPort = "0";
        }
        Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(data);

        if (pidFile != null) {
            writeAtomically(pidFile, Long.toString(ProcessHandle.current().pid()));
        }

        Settings.Builder settings = Settings.builder()
            .put("cluster.name", "ganymede-dev")
            .put("node.name", "ganymede-dev-1")
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", "0")
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("discovery.type", "single-node")
            // Small disks of CI machines must not put indices into read-only mode.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", true);
        extra.forEach(settings::put);

        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings.build(), Collections.emptyMap(), null, () -> "ganymede-dev-1");
        Node node = new EmbeddedNode(environment, PLUGINS);

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    System.err.println(PREFIX + "node did not close within 30s");
                }
            } catch (Exception e) {
                System.err.println(PREFIX + "error while closing node: " + e);
            } finally {
                for (Path dir : deleteOnExit) {
                    deleteRecursively(dir);
                }
                System.out.println(PREFIX + "stopped");
                System.out.flush();
                closed.countDown();
            }
        }, "ganymede-dev-shutdown"));

        node.start();

        // One node cannot host replicas: default new indices to 0 replicas so they turn
        // green. This is read from the cluster metadata, not from node settings.
        node.client().admin().cluster().prepareUpdateSettings()
            .setPersistentSettings(Settings.builder().put("cluster.default_number_of_replicas", 0))
            .execute().actionGet(60_000);

        TransportAddress address = node.injector().getInstance(HttpServerTransport.class)
            .boundAddress().publishAddress();
        String url = "http://" + address.getAddress() + ":" + address.getPort();
        if (urlFile != null) {
            writeAtomically(urlFile, url);
        }
        PrintStream out = System.out;
        out.println(PREFIX + "listening on " + url);
        out.flush();

        if (watchPid != null) {
            Optional<ProcessHandle> watched = ProcessHandle.of(watchPid);
            if (watched.isPresent()) {
                watched.get().onExit().thenRun(() -> {
                    System.out.println(PREFIX + "process " + watched.get().pid() + " exited, stopping");
                    System.exit(0);
                });
            } else {
                System.out.println(PREFIX + "process " + watchPid + " is already gone, stopping");
                System.exit(0);
            }
        }

        closed.await();
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            usage(option + " expects a value");
        }
        return args[i];
    }

    private static void usage(String error) {
        PrintStream s = error == null ? System.out : System.err;
        if (error != null) {
            s.println(PREFIX + error);
        }
        s.println("usage: DevNode --home DIR [--data DIR] [--http-port N] [--url-file FILE] [--pid-file FILE]");
        s.println("               [--watch-pid PID] [--delete-on-exit DIR]... [-E key=value]...");
        System.exit(error == null ? 0 : 2);
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.write(tmp, (content + "\n").getBytes(StandardCharsets.UTF_8));
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void deleteRecursively(Path dir) {
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException e) {
            // already gone
        } catch (IOException e) {
            System.err.println(PREFIX + "could not delete " + dir + ": " + e);
        }
    }
}
