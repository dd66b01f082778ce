/* Lucarne tracker: stores nothing in the browser, sends only to Lucarne. Keep it small. */
!function(w,d){
var s=d.currentScript,l=w.location,H=w.history,N=w.navigator,R=H.replaceState,lp,lk;
if(!s||w.lucarne&&w.lucarne.l)return;
function A(k){return s.getAttribute("data-"+k)}
var dom=A("domain"),api=A("api")||new URL(s.src).origin+"/api/event",
 hm=A("hash")!=null,any=A("allow-localhost")!=null,qm=hm||A("lc")=="query";
// opted out, or localhost / file: / automated browser (unless data-allow-localhost)
function off(){
 try{if(localStorage.lucarne_ignore==="true")return 1}catch(e){}
 return!any&&(l.protocol=="file:"||N.webdriver||/^localhost$|^127(\.\d+){0,2}\.\d+$|^\[::1?\]$/.test(l.hostname))
}
// token: 64 random bits in 11 base64url chars (4 in the first), never 0
function T(){
 var a=crypto.getRandomValues(new Uint8Array(9)),t;a[0]=0;
 t=btoa(String.fromCharCode.apply(0,a)).slice(1).replace(/\+/g,"-").replace(/\//g,"_");
 return/^A+$/.test(t)?T():t
}
// lucarne(name, {props, revenue:{amount,currency}, callback, u})
function ev(n,o){
 o=o||{};
 var c=o.callback||function(){},e,b;
 if(off())return c();
 e={n:n,u:o.u||l.href,d:dom,r:d.referrer||null,w:w.screen.width,t:o.t,sd:o.sd,e:o.e};
 if(o.props)e.p=o.props;
 if(o.revenue)e.$=o.revenue;
 if(w.TelegramWebview||w.TelegramWebviewProxy)e.tg=1;
 if(hm)e.h=1;
 b=JSON.stringify(e);
 try{if(N.sendBeacon(api,new Blob([b],{type:"text/plain"})))return c()}catch(x){}
 w.fetch&&fetch(api,{method:"POST",keepalive:!0,body:b,headers:{"Content-Type":"text/plain"}}).then(c,c)
}
// A pageview per new route (pathname; + fragment in hash mode; replaceState: pathname),
// then its token in the address bar (replacing a parent lc=; not over an anchor)
function pv(rep){
 var p=l.pathname,k=p+(hm?l.hash:""),q,h;
 if(rep&&p==lp)return lk=k;
 if(!rep&&k==lk)return;
 lp=p;lk=k;
 if(off())return;
 ev("pageview",{t:ev.t=T()});
 q=l.search.replace(/[?&]lc=[^&]*/g,"").replace(/^&/,"?");h=l.hash.replace(/^#lc=.*/,"");
 if(qm)q+=(q?"&":"?")+"lc="+ev.t;else if(h)return;else h="#lc="+ev.t;
 try{R.call(H,H.state,"",p+q+h)}catch(e){}
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
