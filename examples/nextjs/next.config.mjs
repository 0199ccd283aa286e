// jobcast behind Next's rewrites: the browser talks to this app's origin only (the API, the
// result files and Socket.IO), as in the seed, where the socket server lived inside Next.
// JOBCAST_URL is read when the app is built (`next build` writes the rewrites down).
const jobcast = (process.env.JOBCAST_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");

/** @type {import('next').NextConfig} */
const nextConfig = {
  // Socket.IO's path ends in a slash ("/socket.io/?EIO=4..."): do not redirect it away.
  skipTrailingSlashRedirect: true,
  async rewrites() {
    return [
      { source: "/api/:path*", destination: `${jobcast}/api/:path*` },
      { source: "/socket.io/", destination: `${jobcast}/socket.io/` },
      { source: "/socket.io/:path*", destination: `${jobcast}/socket.io/:path*` },
    ];
  },
};

export default nextConfig;
