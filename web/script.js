/* Lucarne tracker. Stores nothing in the browser; sends one request per event, to the
   Lucarne server only. Served as is: keep it small. Keys: ARCHITECTURE.md, ingest payload. */
!function(w,d){
var s=d.currentScript,l=w.location,H=w.history,N=w.navigator,lp,lk;
if(!s||w.lucarne&&w.lucarne.l)return;
function A(k){return s.getAttribute("data-"+k)}
var dom=A("domain"),api=A("api")||new URL(s.src).origin+"/api/event",
 hm=A("hash")!=null,any=A("allow-localhost")!=null;
// opted out, or localhost / file: / automated browser (unless data-allow-localhost)
function off(){
 try{if(localStorage.lucarne_ignore==="true")return 1}catch(e){}
 return!any&&(l.protocol=="file:"||N.webdriver||/^localhost$|^127(\.\d+){0,2}\.\d+$|^\[::1?\]$/.test(l.hostname))
}
// lucarne(name, {props, revenue:{amount,currency}, callback, u})
function ev(n,o){
 o=o||{};
 var c=o.callback||function(){},e,b;
 if(off())return c();
 e={n:n,u:o.u||l.href,d:dom,r:d.referrer||null,w:w.screen.width};
 if(o.props)e.p=o.props;
 if(o.revenue)e.$=o.revenue;
 if(w.TelegramWebview||w.TelegramWebviewProxy)e.tg=1;
 if(hm)e.h=1;
 b=JSON.stringify(e);
 try{if(N.sendBeacon(api,new Blob([b],{type:"text/plain"})))return c()}catch(x){}
 w.fetch&&fetch(api,{method:"POST",keepalive:!0,body:b,headers:{"Content-Type":"text/plain"}}).then(c,c)
}
// A pageview per new route (pathname; + fragment in hash mode). replaceState counts only
// when the pathname changes: rewriting the fragment or query is not a navigation.
function pv(rep){
 var p=l.pathname,k=p+(hm?l.hash:"");
 if(rep&&p==lp)return lk=k;
 if(!rep&&k==lk)return;
 lp=p;lk=k;ev("pageview")
}
["pushState","replaceState"].forEach(function(m,i){
 var f=H[m];
 if(f)H[m]=function(){var r=f.apply(this,arguments);pv(i);return r}
});
w.addEventListener("popstate",function(){pv()});
hm&&w.addEventListener("hashchange",function(){pv()});
var q=w.lucarne&&w.lucarne.q||[],i=0;
w.lucarne=ev;ev.l=1;
// a prerendered page counts when it is shown, not when it is prerendered
d.prerendering?d.addEventListener("prerenderingchange",function(){pv()}):pv();
// replay calls queued by the stub before this script loaded
for(;i<q.length;i++)ev.apply(w,q[i])
}(window,document);
